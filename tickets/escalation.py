"""Who holds a case after it escalates, and who is told.

The new severity may need a higher agent tier (``cases.min_tier``). An unassigned case is
routed; an assignee below the tier hands the case to a fitting agent of the tier
(timeline ``rerouted`` naming both) and both are told (``tickets.agent_notices``); an
assignee of the tier keeps it and is told of the escalation. When no agent of the tier
can take it, the assignee keeps it and the timeline says so (``reroute_wanted``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from core.profiles import DeviceProfile
from tickets import lifecycle
from tickets.agent_notices import tell_agent
from tickets.models import Agent, Case
from tickets.routing import need_of, route


def after_escalation(
    session: Session,
    case: Case,
    profiles: Mapping[str, DeviceProfile],
    min_tier: Mapping[str, int],
    actor: str,
    now: datetime,
) -> None:
    """Route ``case`` for its new severity and tell the agents concerned."""
    need = need_of(case, profiles, min_tier)
    current = case.assignee
    if current is not None and current.active and current.tier >= need.tier:
        tell_agent(session, case, current, "escalated", now, actor)
        return
    decision = route(session, need)
    new = session.get(Agent, decision.agent_id) if decision.agent_id is not None else None
    if current is not None and (new is None or new.tier < need.tier):
        lifecycle.log(
            session,
            case,
            actor,
            "reroute_wanted",
            now,
            agent_id=current.id,
            agent_name=current.name,
            agent_tier=current.tier,
            tier_needed=need.tier,
            reason=decision.reason,
        )
        tell_agent(session, case, current, "escalated", now, actor)
        return
    if new is None:
        return  # unassigned, and nobody can take it: it waits in the queue
    reason = f"escalated to {case.severity}: {decision.reason}"
    lifecycle.assign(session, case, new.id, actor, now, reason)
    if current is not None:
        _rerouted(session, case, current, new, need.tier, actor, now)
    tell_agent(session, case, new, "rerouted_to", now, actor, other=current, tier=need.tier)


def _rerouted(
    session: Session, case: Case, old: Agent, new: Agent, tier: int, actor: str, now: datetime
) -> None:
    lifecycle.log(
        session,
        case,
        actor,
        "rerouted",
        now,
        severity=case.severity,
        tier_needed=tier,
        from_agent_id=old.id,
        from_agent_name=old.name,
        from_tier=old.tier,
        to_agent_id=new.id,
        to_agent_name=new.name,
        to_tier=new.tier,
    )
    tell_agent(session, case, old, "rerouted_away", now, actor, other=new, tier=tier)
