"""Service agents: their skills and load (viewers), and adding or changing them (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select

from api.deps import Admin, CtxDep, SessionDep, Viewer
from api.openapi import AUTH_ERRORS, problem_responses
from api.queries import open_case_counts
from api.schemas import AgentPublic, AgentsPublic
from api.schemas.team import AgentCreate, AgentUpdate
from tickets.models import Agent, Case
from tickets.team import AgentChange, AgentError, AgentSpec, add_agent, change_agent

router = APIRouter(prefix="/agents", tags=["agents"], responses=AUTH_ERRORS)
AgentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _public(agent: Agent, load: dict[int, int]) -> AgentPublic:
    return AgentPublic(
        id=agent.id,
        name=agent.name,
        email=agent.email,
        product_lines=list(agent.product_lines or []),
        skills=list(agent.skills or []),
        languages=list(agent.languages or []),
        capacity=agent.capacity,
        active=agent.active,
        open_cases=load.get(agent.id, 0),
        tier=agent.tier,
        teams=list(agent.teams or []),
    )


@router.get("", response_model=AgentsPublic, summary="List agents with their open cases")
def read_agents(_: Viewer, db: SessionDep) -> AgentsPublic:
    """Every agent with product lines, skills, languages, tier, teams, capacity and how
    many open cases they hold now (the queue's "who has what")."""
    load = open_case_counts(db, Case.assignee_id)
    agents = db.scalars(select(Agent).order_by(Agent.id)).all()
    data = [_public(a, load) for a in agents]
    return AgentsPublic(data=data, count=len(data))


@router.post(
    "",
    response_model=AgentPublic,
    status_code=201,
    summary="Add an agent (or update the one with this e-mail)",
    responses=problem_responses(422),
)
def create_agent(_: Admin, ctx: CtxDep, body: AgentCreate, db: SessionDep) -> AgentPublic:
    """Add an agent; cases are routed to them from now on (unassigned ones on the next
    rerouting pass). Posting an existing e-mail address updates that agent."""
    spec = AgentSpec(**body.model_dump())
    try:
        agent_id = add_agent(ctx.session_factory, spec)
    except AgentError as exc:
        raise HTTPException(422, str(exc)) from None
    return _public(db.get_one(Agent, agent_id), open_case_counts(db, Case.assignee_id))


@router.patch(
    "/{agent_id}",
    response_model=AgentPublic,
    summary="Change or disable an agent",
    responses=problem_responses(404, 422),
)
def update_agent(
    _: Admin, ctx: CtxDep, agent_id: AgentId, body: AgentUpdate, db: SessionDep
) -> AgentPublic:
    """Change skills, languages, product lines, tier, capacity or teams; ``active: false``
    routes no new case to the agent (their open cases stay theirs)."""
    if db.get(Agent, agent_id) is None:
        raise HTTPException(404, f"No agent {agent_id}.")
    try:
        change_agent(ctx.session_factory, agent_id, AgentChange(**body.model_dump()))
    except AgentError as exc:
        raise HTTPException(422, str(exc)) from None
    db.expire_all()
    return _public(db.get_one(Agent, agent_id), open_case_counts(db, Case.assignee_id))
