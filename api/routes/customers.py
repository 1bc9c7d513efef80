"""Customers and how to reach them (agents and admins only: this is personal data)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from api.deps import AgentRole, SessionDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.present import customer_public
from api.schemas import CustomerPublic, CustomersPublic
from tickets.models import Customer

router = APIRouter(prefix="/customers", tags=["customers"], responses=AUTH_ERRORS)


@router.get("", response_model=CustomersPublic, summary="List customers")
def read_customers(
    _: AgentRole,
    db: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> CustomersPublic:
    """Customers (personal data: agent role) with their contact points in preference
    order; credentials in contact URLs are removed."""
    total = db.scalar(select(func.count(Customer.id))) or 0
    rows = db.scalars(
        select(Customer)
        .order_by(Customer.id)
        .limit(limit)
        .offset(offset)
        .options(selectinload(Customer.contacts))
    )
    return CustomersPublic(data=[customer_public(c) for c in rows], count=total)


@router.get(
    "/{customer_id}",
    response_model=CustomerPublic,
    summary="One customer",
    responses=problem_responses(404),
)
def read_customer(
    _: AgentRole,
    db: SessionDep,
    customer_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> CustomerPublic:
    """One customer with language, time zone, tier and contact points."""
    customer = db.get(Customer, customer_id)
    if customer is None:
        raise HTTPException(404, f"No customer {customer_id!r}.")
    return customer_public(customer)
