"""Service agents, their skills and how many open cases each one holds."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import SessionDep, Viewer
from api.openapi import AUTH_ERRORS
from api.queries import open_case_counts
from api.schemas import AgentPublic, AgentsPublic
from tickets.models import Agent, Case

router = APIRouter(prefix="/agents", tags=["agents"], responses=AUTH_ERRORS)


@router.get("", response_model=AgentsPublic, summary="List agents with their open cases")
def read_agents(_: Viewer, db: SessionDep) -> AgentsPublic:
    """Every agent with product lines, skills, languages, capacity and how many open cases
    they hold now (the queue's "who has what")."""
    load = open_case_counts(db, Case.assignee_id)
    agents = db.scalars(select(Agent).order_by(Agent.id)).all()
    data = [
        AgentPublic(
            id=a.id,
            name=a.name,
            email=a.email,
            product_lines=list(a.product_lines or []),
            skills=list(a.skills or []),
            languages=list(a.languages or []),
            capacity=a.capacity,
            active=a.active,
            open_cases=load.get(a.id, 0),
        )
        for a in agents
    ]
    return AgentsPublic(data=data, count=len(data))
