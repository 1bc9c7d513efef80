"""The unassigned queue: offer waiting cases to the agents again.

A case nobody could take when it opened (no agent with the skills, or all at capacity)
waits unassigned with the reason. When an agent joins or frees up, ``route_queue`` gives
the waiting cases, most urgent and oldest first, to whoever qualifies now. Cases a person
unassigned on purpose stay in the queue for people to pick.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.cases import OPEN_STATUSES
from core.profiles import DeviceProfile
from tickets import lifecycle
from tickets.models import Agent, Case, CaseEvent
from tickets.routing import need_of, open_loads, route


def route_queue(
    session_factory: sessionmaker[Session],
    profiles: Mapping[str, DeviceProfile],
    actor: str,
    at: datetime,
    min_tier: Mapping[str, int] | None = None,
) -> list[int]:
    """Assign queued cases that an agent can take now (of the tier ``min_tier`` gives
    each severity, or below it when nobody of that tier can); returns their ids."""
    with session_factory() as session:
        if not _anyone_free(session):
            return []
        waiting = _queued(session, actor)
    return [
        case_id
        for case_id in waiting
        if _take(session_factory, profiles, case_id, actor, at, min_tier)
    ]


def _anyone_free(session: Session) -> bool:
    loads = open_loads(session)
    agents = session.execute(select(Agent.id, Agent.capacity).where(Agent.active.is_(True)))
    return any(loads.get(agent_id, 0) < capacity for agent_id, capacity in agents)


def _queued(session: Session, actor: str) -> list[int]:
    """Open unassigned cases whose last (un)assignment was ``actor``'s (the system's)."""
    cases = session.scalars(
        select(Case.id)
        .where(Case.status.in_(OPEN_STATUSES), Case.assignee_id.is_(None))
        .order_by(Case.priority, Case.opened_at, Case.id)
    ).all()
    return [case_id for case_id in cases if _last_assigner(session, case_id) == actor]


def _last_assigner(session: Session, case_id: int) -> str | None:
    return session.scalar(
        select(CaseEvent.actor)
        .where(CaseEvent.case_id == case_id, CaseEvent.kind.in_(("assigned", "unassigned")))
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )


def _take(
    session_factory: sessionmaker[Session],
    profiles: Mapping[str, DeviceProfile],
    case_id: int,
    actor: str,
    at: datetime,
    min_tier: Mapping[str, int] | None,
) -> bool:
    with session_factory.begin() as session:
        case = lifecycle.load(session, case_id)  # locked: re-check what was listed
        if case.status not in OPEN_STATUSES or case.assignee_id is not None:
            return False
        decision = route(session, need_of(case, profiles, min_tier))
        if decision.agent_id is None:
            return False
        reason = f"from the unassigned queue: {decision.reason}"
        lifecycle.assign(session, case, decision.agent_id, actor, at, reason)
        return True
