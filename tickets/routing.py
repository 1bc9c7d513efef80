"""Route a case to the least-loaded active agent who has every skill it needs.

An agent qualifies when they cover the case's product line, hold the failure mode's
skill (from the device profile), speak the customer's language, are of at least the
tier the case's severity needs (``cases.min_tier``; manual assignment is a person's call
and ignores it), and have fewer open cases than their capacity. Among those, the one
with the fewest open cases wins (lowest id on a tie). When nobody qualifies the case
stays unassigned and the decision says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.cases import OPEN_STATUSES
from core.profiles import DeviceProfile
from tickets.models import Agent, Case


@dataclass(frozen=True, slots=True)
class Need:
    """What a case asks of its agent."""

    product_line: str
    skill: str
    language: str
    tier: int = 1


def need_of(
    case: Case, profiles: Mapping[str, DeviceProfile], min_tier: Mapping[str, int] | None = None
) -> Need:
    """The product line, failure-mode skill (from the profile), customer language and,
    given ``min_tier`` (severity -> tier), the tier the case's severity needs."""
    profile = profiles.get(case.model)
    mode = profile.failure_modes.get(case.failure_mode) if profile else None
    language = case.customer.locale if case.customer else ""
    tier = (min_tier or {}).get(case.severity, 1)
    return Need(case.product_line, mode.skill if mode else "", language, tier)


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    agent_id: int | None
    reason: str


def open_loads(session: Session) -> dict[int, int]:
    """Open cases per assigned agent id."""
    rows = session.execute(
        select(Case.assignee_id, func.count())
        .where(Case.status.in_(OPEN_STATUSES), Case.assignee_id.is_not(None))
        .group_by(Case.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in rows if agent_id is not None}


def route(session: Session, need: Need) -> RoutingDecision:
    """Pick an agent for ``need``; on PostgreSQL the agent rows are locked so two
    concurrent cases cannot both take an agent's last free slot. When no agent of the
    tier needed can take it, a skilled agent below that tier does (the reason says so),
    so a team without the tier still gets its cases."""
    decision = _route(session, need)
    if decision.agent_id is not None or need.tier <= 1:
        return decision
    below = _route(session, replace(need, tier=1))
    if below.agent_id is None:
        return decision
    return RoutingDecision(
        below.agent_id, f"below tier {need.tier} ({decision.reason}): {below.reason}"
    )


def _route(session: Session, need: Need) -> RoutingDecision:
    query = select(Agent).where(Agent.active.is_(True)).order_by(Agent.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    agents = list(session.scalars(query))
    if not agents:
        return RoutingDecision(None, "no active agents")
    skilled, missing = _skilled(agents, need)
    if not skilled:
        return RoutingDecision(None, missing)
    loads = open_loads(session)
    free = [a for a in skilled if loads.get(a.id, 0) < a.capacity]
    if not free:
        names = ", ".join(a.name for a in skilled)
        return RoutingDecision(None, f"all {len(skilled)} skilled agents at capacity ({names})")
    best = min(free, key=lambda a: (loads.get(a.id, 0), a.id))
    load = loads.get(best.id, 0)
    return RoutingDecision(
        best.id,
        f"least loaded of {len(free)} skilled agents with free capacity "
        f"({load}/{best.capacity} open cases)",
    )


def _skilled(agents: list[Agent], need: Need) -> tuple[list[Agent], str]:
    """Agents matching every requirement, or none and the first requirement nobody meets."""
    pool, missing = _with_skills(agents, need)
    if not pool or need.tier <= 1:
        return pool, missing
    tiered = [a for a in pool if a.tier >= need.tier]
    if not tiered:
        return [], f"no active agent of tier {need.tier} or above with the skills needed"
    return tiered, ""


def _with_skills(agents: list[Agent], need: Need) -> tuple[list[Agent], str]:
    checks = (
        ("product line", need.product_line, "product_lines"),
        ("skill", need.skill, "skills"),
        ("language", need.language, "languages"),
    )
    pool = agents
    for label, wanted, attribute in checks:
        if not wanted:
            continue
        pool = [a for a in pool if wanted in getattr(a, attribute)]
        if not pool:
            return [], f"no active agent with {label} {wanted!r} (and the other skills needed)"
    return pool, ""
