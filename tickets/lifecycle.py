"""Case lifecycle: open -> acknowledged -> in_progress -> resolved -> closed, and reopen.

Every change adds a ``CaseEvent`` with the actor. Functions here work inside the
caller's session/transaction; ``tickets.service.CaseService`` wraps them.

Errors::

    CaseError
     +-- CaseNotFound        no case with that id
     +-- InvalidTransition   the action is not allowed from the case's status
     +-- UnknownAgent        assigning to an agent that does not exist or is inactive
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.cases import OPEN_STATUSES
from tickets.cases import write_lock
from tickets.models import Agent, Case, CaseEvent

TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "acknowledge": (frozenset({"open"}), "acknowledged"),
    "start": (frozenset({"open", "acknowledged"}), "in_progress"),
    "resolve": (frozenset(OPEN_STATUSES), "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "open"),
}


class CaseError(Exception):
    """A case operation that cannot be done."""


class CaseNotFound(CaseError, LookupError):
    """No case with that id."""


class InvalidTransition(CaseError):
    """The requested action is not allowed from the case's current status."""


class UnknownAgent(CaseError, LookupError):
    """No active agent with that id."""


def log(
    session: Session, case: Case, actor: str, kind: str, at: datetime, /, **detail: Any
) -> None:
    """Append one timeline entry to ``case``."""
    session.add(CaseEvent(case_id=case.id, at=at, actor=actor, kind=kind, detail=detail))


def load(session: Session, case_id: int) -> Case:
    """The case, locked for this transaction (row lock / SQLite write lock); raises
    ``CaseNotFound``."""
    write_lock(session)
    case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
    if case is None:
        raise CaseNotFound(f"case {case_id} does not exist")
    return case


def transition(
    session: Session, case: Case, action: str, actor: str, at: datetime, **detail: Any
) -> None:
    """Apply ``action`` (a key of ``TRANSITIONS``) or raise ``InvalidTransition``."""
    allowed, target = TRANSITIONS[action]
    if case.status not in allowed:
        raise InvalidTransition(
            f"cannot {action} case {case.id}: it is {case.status} "
            f"(allowed from: {', '.join(sorted(allowed))})"
        )
    before = case.status
    if action == "reopen":
        _reopen(session, case, at)
    else:
        case.status, case.updated_at = target, at
        _stamp(case, target, at)
    log(session, case, actor, action, at, status_from=before, status_to=target, **detail)


def _reopen(session: Session, case: Case, at: datetime) -> None:
    """Reopen inside a savepoint, written at once: a case for the same problem opened by a
    concurrent transaction after our check trips the one-open-case index here, and is
    reported like the check would have (``InvalidTransition``), not as a database error."""
    _check_no_other_open(session, case)
    try:
        with session.begin_nested():  # flushes earlier changes first, outside the savepoint
            case.status, case.updated_at = "open", at
            _stamp(case, "open", at)
            session.flush()
    except IntegrityError:
        _check_no_other_open(session, case)  # the other case is committed and visible now
        raise _already_open(case, None) from None


def _stamp(case: Case, target: str, at: datetime) -> None:
    if target == "acknowledged" or (target == "in_progress" and case.acknowledged_at is None):
        case.acknowledged_at = at
    elif target == "resolved":
        case.resolved_at = at
    elif target == "closed":
        case.closed_at = at
    elif target == "open":
        case.resolved_at = case.closed_at = case.healthy_since = None


def _check_no_other_open(session: Session, case: Case) -> None:
    other = session.scalar(
        select(Case.id).where(
            Case.device_id == case.device_id,
            Case.failure_mode == case.failure_mode,
            Case.status.in_(OPEN_STATUSES),
            Case.id != case.id,
        )
    )
    if other is not None:
        raise _already_open(case, other)


def _already_open(case: Case, other: int | None) -> InvalidTransition:
    number = f" #{other}" if other is not None else ""
    return InvalidTransition(
        f"cannot reopen case {case.id}: device {case.device_id} already has an open "
        f"case{number} for failure mode {case.failure_mode}"
    )


def assign(
    session: Session, case: Case, agent_id: int | None, actor: str, at: datetime, reason: str
) -> None:
    """Assign ``case`` to an active agent, or unassign it (``agent_id=None``)."""
    if case.status not in OPEN_STATUSES:
        raise InvalidTransition(f"cannot assign case {case.id}: it is {case.status}")
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    if agent_id is not None and (agent is None or not agent.active):
        raise UnknownAgent(f"no active agent with id {agent_id}")
    case.assignee_id, case.routing_reason, case.updated_at = agent_id, reason, at
    kind = "assigned" if agent is not None else "unassigned"
    log(
        session,
        case,
        actor,
        kind,
        at,
        agent_id=agent_id,
        agent_name=agent.name if agent else None,
        reason=reason,
    )
