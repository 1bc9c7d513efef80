"""The customer page: contacts and preferences, devices, and every case and message in
one timeline (agents and admins: this is personal data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.deps import CtxDep, PageUser, SessionDep
from api.desk import Turn, turn
from api.i18n import pick_locale, translator
from api.present import case_public, customer_public
from api.templating import render
from tickets.models import Case, Customer, Message

router = APIRouter(include_in_schema=False)


@dataclass
class Moment:
    """One line of the customer's history: a case event or a message."""

    at: datetime
    case_id: int
    kind: str  # opened | resolved | message
    turn: Turn | None = None


def history(db: Session, customer: Customer, bot_name: str) -> list[Moment]:
    """Every case opening and resolution and every message of ``customer``, newest first."""
    moments: list[Moment] = []
    for case in db.scalars(select(Case).where(Case.customer_id == customer.id)):
        moments.append(Moment(case.opened_at, case.id, "opened"))
        if case.resolved_at is not None:
            moments.append(Moment(case.resolved_at, case.id, "resolved"))
    messages = db.scalars(
        select(Message)
        .where(Message.customer_id == customer.id)
        .options(selectinload(Message.notification))
    )
    for m in messages:
        moments.append(Moment(m.at, m.case_id, "message", turn(m, customer, bot_name)))
    return sorted(moments, key=lambda x: (x.at, x.kind != "opened"), reverse=True)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    user: PageUser,
    ctx: CtxDep,
    db: SessionDep,
    customer_id: Annotated[str, Path(max_length=64)],
) -> Response:
    if not user.has_role("agent"):
        raise HTTPException(403, "Customer details need the agent role.")
    customer = db.scalar(
        select(Customer)
        .where(Customer.id == customer_id)
        .options(selectinload(Customer.contacts), selectinload(Customer.devices))
    )
    if customer is None:
        raise HTTPException(404, f"No customer {customer_id!r}.")
    locale = pick_locale(request, user.locale)
    cases = db.scalars(
        select(Case).where(Case.customer_id == customer.id).order_by(Case.opened_at.desc())
    ).all()
    return render(
        request,
        "customer.html",
        user,
        nav="queue",
        now=ctx.now(),
        customer=customer_public(customer),
        row=customer,
        devices=customer.devices,
        cases=[case_public(c, ctx.profiles, locale) for c in cases],
        moments=history(db, customer, translator(locale)("bot_name")),
    )
