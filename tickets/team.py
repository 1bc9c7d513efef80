"""The service team: add, change, list and disable agents; list and cancel maintenance.

Routing (``tickets.routing``) offers a case to active agents who cover its product line,
hold its failure-mode skill and speak the customer's language. An agent added here is
routable at once; the rerouting pass offers waiting unassigned cases again.

``tier`` is the support level (1 first line, 2 specialist, 3 expert): routing gives a
case only to agents of at least the tier its severity needs (``cases.min_tier``; critical
needs 2 by default), when it opens and when it escalates. ``teams`` names the groups an
agent belongs to; it is recorded and shown (routing does not use it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tickets.language import language_of
from tickets.models import Agent, MaintenanceWindow

MAX_TIER = 3


class AgentError(ValueError):
    """An agent that cannot be stored as given."""


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """Who an agent is and what they can take (one line per field of ``kizuki agent add``)."""

    name: str
    email: str
    skills: Sequence[str] = ()
    languages: Sequence[str] = ("en",)
    product_lines: Sequence[str] = ()
    capacity: int = 5
    tier: int = 1
    teams: Sequence[str] = ()
    active: bool = True

    def checked(self) -> AgentSpec:
        """This spec, or ``AgentError`` saying which field is wrong."""
        if not self.name:
            raise AgentError("an agent needs a name")
        if "@" not in self.email:
            raise AgentError(f"{self.email!r} is not an e-mail address")
        if not 0 <= self.capacity <= 1000:
            raise AgentError(f"capacity must be 0..1000 open cases, not {self.capacity}")
        if not 1 <= self.tier <= MAX_TIER:
            raise AgentError(f"tier must be 1..{MAX_TIER}, not {self.tier}")
        if not self.languages:
            raise AgentError("an agent needs at least one language (e.g. en, ja)")
        return self

    @classmethod
    def from_mapping(cls, entry: Mapping[str, Any]) -> AgentSpec:
        """A spec from a manifest or API entry (lists may be given as one string)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(entry) - known)
        if unknown:
            raise AgentError(f"agent entry has unknown field(s) {', '.join(unknown)}")
        if "name" not in entry or "email" not in entry:
            raise AgentError(f"agent entry {dict(entry)!r} needs 'name' and 'email'")
        try:
            spec = cls(
                name=str(entry["name"]),
                email=str(entry["email"]),
                skills=_listed(entry.get("skills")),
                languages=_listed(entry.get("languages", ("en",))),
                product_lines=_listed(entry.get("product_lines")),
                capacity=int(entry.get("capacity", 5)),
                tier=int(entry.get("tier", 1)),
                teams=_listed(entry.get("teams")),
                active=bool(entry.get("active", True)),
            )
        except (TypeError, ValueError) as exc:
            raise AgentError(f"agent entry {dict(entry)!r}: {exc}") from None
        return spec.checked()


_LISTS = frozenset({"skills", "languages", "product_lines", "teams"})


def _listed(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value or ())


@dataclass(frozen=True, slots=True)
class AgentChange:
    """The fields of an existing agent to change (None: keep)."""

    capacity: int | None = None
    tier: int | None = None
    active: bool | None = None
    skills: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    product_lines: Sequence[str] | None = None
    teams: Sequence[str] | None = None


def upsert_agent(session: Session, spec: AgentSpec) -> Agent:
    """Add the agent, or update the one with this e-mail address (idempotent)."""
    spec = spec.checked()
    agent = session.scalar(select(Agent).where(Agent.email == spec.email))
    if agent is None:
        agent = Agent(email=spec.email)
        session.add(agent)
    agent.name, agent.capacity, agent.tier, agent.active = (
        spec.name.strip() or spec.name,
        spec.capacity,
        spec.tier,
        spec.active,
    )
    agent.skills = _clean(spec.skills)
    agent.languages = sorted({language_of(x) for x in spec.languages})
    agent.product_lines = _clean(spec.product_lines)
    agent.teams = _clean(spec.teams)
    session.flush()
    return agent


def add_agent(session_factory: sessionmaker[Session], spec: AgentSpec) -> int:
    """Add or update an agent in its own transaction; its id."""
    with session_factory.begin() as session:
        return upsert_agent(session, spec).id


def change_agent(
    session_factory: sessionmaker[Session], key: int | str, change: AgentChange
) -> Agent:
    """Change the agent with this id or e-mail address; ``AgentError`` if there is none."""
    with session_factory.begin() as session:
        agent = find_agent(session, key)
        spec = AgentSpec(
            agent.name,
            agent.email,
            skills=agent.skills if change.skills is None else change.skills,
            languages=agent.languages if change.languages is None else change.languages,
            product_lines=(
                agent.product_lines if change.product_lines is None else change.product_lines
            ),
            capacity=agent.capacity if change.capacity is None else change.capacity,
            tier=agent.tier if change.tier is None else change.tier,
            teams=agent.teams if change.teams is None else change.teams,
            active=agent.active if change.active is None else change.active,
        )
        return upsert_agent(session, spec)


def find_agent(session: Session, key: int | str) -> Agent:
    """The agent with this id (an int or digits) or e-mail address."""
    query = select(Agent)
    if isinstance(key, int) or key.isdigit():
        query = query.where(Agent.id == int(key))
    else:
        query = query.where(Agent.email == key)
    agent = session.scalar(query)
    if agent is None:
        raise AgentError(f"no agent {key!r}")
    return agent


def list_agents(session_factory: sessionmaker[Session]) -> list[Agent]:
    """Every agent, in id order."""
    with session_factory() as session:
        return list(session.scalars(select(Agent).order_by(Agent.id)))


def list_maintenance(
    session_factory: sessionmaker[Session],
    device_id: str | None = None,
    after: datetime | None = None,
) -> list[MaintenanceWindow]:
    """Maintenance windows (of one device; ending after ``after``), by start."""
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
    if device_id is not None:
        query = query.where(MaintenanceWindow.device_id == device_id)
    if after is not None:
        query = query.where(MaintenanceWindow.ends_at > after)
    with session_factory() as session:
        return list(session.scalars(query))


def cancel_maintenance(session_factory: sessionmaker[Session], window_id: int) -> bool:
    """Delete a maintenance window; False if there is none with this id."""
    with session_factory.begin() as session:
        window = session.get(MaintenanceWindow, window_id)
        if window is None:
            return False
        session.delete(window)
        return True


def _clean(values: Iterable[str]) -> list[str]:
    return sorted({v.strip() for v in values if v.strip()})
