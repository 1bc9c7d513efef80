"""CaseService: anomaly events in, one case per (device, failure mode) out.

* ``handle(event)``: an "anomaly" opens a case (routed, on the timeline, with a
  "detected" notice in the outbox, all in one transaction) or updates the open one
  (timeline entry; severity may rise, which sends an "update" notice). A "recovery"
  starts the case's healthy clock.
* Maintenance is judged per event, at the event's time: a ``suppress`` window opens no
  case (an open one is still updated), and no notice goes out for an event inside any
  window. After the window, a case the customer never heard of is announced
  ("detected") by its next anomaly.
* ``tick(now)``: resolves cases whose device stayed healthy for
  ``settings.cases.auto_resolve_after_s`` and queues an "all clear" notice; every
  ``settings.cases.reroute_every_s`` it also offers unassigned cases to the agents again
  (``tickets.queue``).
* ``acknowledge/start/assign/add_note/resolve/close/reopen`` (and ``write``/``link`` from
  ``tickets.desk_actions``): the lifecycle for the API;
  errors are the ``tickets.lifecycle`` hierarchy (``CaseError`` and subclasses).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.cases import OPEN_STATUSES
from core.clock import Clock, utc
from core.events import AnomalyEvent
from core.metrics import CASES_OPENED, CASES_RESOLVED
from core.profiles import DeviceProfile
from tickets import cases as rules
from tickets import lifecycle
from tickets.anomalies import apply_repeat, new_case_values
from tickets.desk_actions import DeskActions
from tickets.fit import AgentMismatch, check_fit
from tickets.lifecycle import CaseError, CaseNotFound, InvalidTransition, UnknownAgent
from tickets.models import Case, Device, MaintenanceWindow, Notification
from tickets.outbox import enqueue, pull_forward
from tickets.queue import route_queue
from tickets.routing import need_of, route
from tickets.settings import TicketsConfig
from tickets.snapshot import Telemetry, take_snapshot

__all__ = [
    "AgentMismatch",
    "CaseError",
    "CaseNotFound",
    "CaseService",
    "InvalidTransition",
    "Outcome",
    "UnknownAgent",
]
log = logging.getLogger(__name__)
SYSTEM = "kizuki"
RACE_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``handle`` did with one event."""

    action: Literal["opened", "updated", "suppressed", "recovering", "ignored"]
    case_id: int | None = None
    detail: str = ""


class CaseService(DeskActions):
    """Cases from anomaly events, and the case lifecycle (see the module docstring)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        profiles: Mapping[str, DeviceProfile],
        settings: TicketsConfig,
        clock: Clock = time.time,
        telemetry: Telemetry | None = None,
        snapshot_before_s: float = 6 * 3600.0,
    ) -> None:
        self.session_factory = session_factory
        self.profiles = profiles
        self.settings = settings
        self.clock = clock
        self.telemetry = telemetry
        self.snapshot_before_s = snapshot_before_s
        self._routed_at: datetime | None = None

    def _now(self) -> datetime:
        return utc(self.clock())

    # -- events -------------------------------------------------------------------------

    def handle(self, event: AnomalyEvent) -> Outcome:
        """Open, update or start recovering the case for ``event``."""
        if event.kind == "recovery":
            return self._recover(event)
        snapshot = self._snapshot(event)
        with self.session_factory.begin() as session:
            outcome = self._anomaly(session, event, snapshot)
        if outcome.action == "opened":
            CASES_OPENED.inc()
        log.info("%s %s/%s: %s", event.kind, event.device_id, event.failure_mode, outcome)
        return outcome

    def _anomaly(self, session: Session, event: AnomalyEvent, snapshot: dict[str, Any]) -> Outcome:
        now, at = self._now(), rules.as_datetime(event.ts)
        profile = self.profiles.get(event.model)
        device = rules.ensure_device(
            session, event.device_id, event.model, profile.product_line if profile else ""
        )
        window = rules.maintenance_at(session, device.id, at)
        if window is not None and window.mode == "suppress":
            return self._in_suppress_window(session, device, event, now, window)
        quiet = window is not None  # in maintenance: no notice for this event
        values = new_case_values(event, device, self.profiles, self.settings, now, quiet, snapshot)
        for _ in range(RACE_RETRIES):
            case_id = rules.insert_open(session, values)
            if case_id is not None:
                self._opened(session, session.get_one(Case, case_id), event, now)
                return Outcome("opened", case_id, "quiet (maintenance)" if quiet else "")
            found = rules.find_open(session, device.id, event.failure_mode, lock=True)
            if found:  # locked: it stays open until we commit
                return self._repeated(session, found[0], event, now, announce=not quiet)
            # the open case we collided with was resolved meanwhile (PostgreSQL): try again
        raise CaseError(f"no open case for {device.id}/{event.failure_mode} after retries")

    def _in_suppress_window(
        self,
        session: Session,
        device: Device,
        event: AnomalyEvent,
        now: datetime,
        window: MaintenanceWindow,
    ) -> Outcome:
        """A suppress window opens no case, but an open case still takes the update
        (timeline, severity) without telling the customer."""
        found = rules.find_open(session, device.id, event.failure_mode, lock=True)
        if not found:
            return Outcome("suppressed", None, f"maintenance window {window.id}: {window.reason}")
        outcome = self._repeated(session, found[0], event, now, announce=False)
        return Outcome(outcome.action, outcome.case_id, f"in maintenance window {window.id}")

    def _opened(self, session: Session, case: Case, event: AnomalyEvent, now: datetime) -> None:
        lifecycle.log(
            session, case, SYSTEM, "opened", now,
            severity=case.severity, priority=case.priority, score=case.score,
            why=event.why.text, quiet=case.quiet,
        )  # fmt: skip
        decision = route(session, need_of(case, self.profiles))
        lifecycle.assign(session, case, decision.agent_id, SYSTEM, now, decision.reason)
        if not case.quiet:  # opened in a maintenance window: the customer is not told
            enqueue(session, self.settings, case, "detected", self.profiles, now)

    def _repeated(
        self, session: Session, case: Case, event: AnomalyEvent, now: datetime, announce: bool
    ) -> Outcome:
        before = case.severity
        raised = apply_repeat(case, event, self.settings, now)
        lifecycle.log(
            session, case, SYSTEM, "severity_raised" if raised else "anomaly_again", now,
            severity_from=before, severity_to=case.severity, score=float(event.score),
            why=event.why.text, in_maintenance=not announce,
        )  # fmt: skip
        if announce:
            self._announce(session, case, raised, now)
        if raised and case.severity == "critical":
            pull_forward(session, case.id, now)
        return Outcome("updated", case.id, "severity raised" if raised else "")

    def _announce(self, session: Session, case: Case, raised: bool, now: datetime) -> None:
        """Tell the customer: "detected" if they never heard of this case (it opened in a
        maintenance window that has ended since), "update" when the severity rose."""
        told = session.scalar(
            select(Notification.id).where(Notification.case_id == case.id).limit(1)
        )
        if told is None:
            enqueue(session, self.settings, case, "detected", self.profiles, now)
        elif raised:
            enqueue(session, self.settings, case, "update", self.profiles, now)

    def _recover(self, event: AnomalyEvent) -> Outcome:
        at, now = rules.as_datetime(event.ts), self._now()
        with self.session_factory.begin() as session:
            cases = rules.find_open(session, event.device_id, event.failure_mode, lock=True)
            for case in cases:
                if case.healthy_since is None:
                    case.healthy_since, case.updated_at = at, now
                    lifecycle.log(
                        session, case, SYSTEM, "recovering", now, healthy_since=at.isoformat()
                    )
        if not cases:
            return Outcome("ignored", None, "no open case")
        return Outcome("recovering", cases[0].id, f"{len(cases)} case(s)")

    def _snapshot(self, event: AnomalyEvent) -> dict[str, Any]:
        if self.telemetry is None:
            return {}
        with self.session_factory() as session:
            if rules.find_open(session, event.device_id, event.failure_mode):
                return {}  # the open case already holds its snapshot
        return take_snapshot(self.telemetry, event, self.snapshot_before_s)

    # -- auto-resolve -------------------------------------------------------------------

    def tick(self, now: float | datetime | None = None) -> list[int]:
        """Resolve cases healthy for ``auto_resolve_after_s``; returns their ids."""
        at = rules.as_datetime(now) if now is not None else self._now()
        cutoff = at - timedelta(seconds=self.settings.cases.auto_resolve_after_s)
        with self.session_factory() as session:
            candidates = session.scalars(
                select(Case.id)
                .where(Case.status.in_(OPEN_STATUSES), Case.healthy_since <= cutoff)
                .order_by(Case.id)
            ).all()
        resolved = [case_id for case_id in candidates if self._auto_resolve(case_id, at, cutoff)]
        CASES_RESOLVED.inc(len(resolved))
        self._route_queue(at)
        return resolved

    def _route_queue(self, at: datetime) -> None:
        """Every ``cases.reroute_every_s``: queued cases go to agents who can take them now."""
        every = timedelta(seconds=self.settings.cases.reroute_every_s)
        if self._routed_at is not None and abs(at - self._routed_at) < every:
            return
        self._routed_at = at
        if assigned := route_queue(self.session_factory, self.profiles, SYSTEM, at):
            log.info("assigned from the unassigned queue: cases %s", assigned)

    def _auto_resolve(self, case_id: int, at: datetime, cutoff: datetime) -> bool:
        """Resolve one case if it is *still* open and healthy once locked (an anomaly may
        have arrived since the candidates were listed)."""
        with self.session_factory.begin() as session:
            case = lifecycle.load(session, case_id)
            healthy_since = case.healthy_since
            if case.status not in OPEN_STATUSES or healthy_since is None or healthy_since > cutoff:
                return False
            healthy_s = (at - healthy_since).total_seconds()
            self._resolve(session, case, SYSTEM, at, auto=True, healthy_for_s=healthy_s)
            return True

    def _resolve(
        self, session: Session, case: Case, actor: str, at: datetime, **detail: Any
    ) -> None:
        lifecycle.transition(session, case, "resolve", actor, at, **detail)
        # always queued: the dispatcher drops it if the customer never heard of the case
        enqueue(session, self.settings, case, "all_clear", self.profiles, at)

    # -- lifecycle for the API ----------------------------------------------------------

    def acknowledge(self, case_id: int, actor: str) -> Case:
        """open -> acknowledged."""
        return self._act(
            case_id, lambda s, c, now: lifecycle.transition(s, c, "acknowledge", actor, now)
        )

    def start(self, case_id: int, actor: str) -> Case:
        """open/acknowledged -> in_progress."""
        return self._act(case_id, lambda s, c, now: lifecycle.transition(s, c, "start", actor, now))

    def resolve(self, case_id: int, actor: str, note: str = "", notify: bool = True) -> Case:
        """Any open status -> resolved; queues an "all clear" notice unless ``notify=False``."""

        def act(session: Session, case: Case, now: datetime) -> None:
            if notify:
                self._resolve(session, case, actor, now, note=note)
            else:
                lifecycle.transition(session, case, "resolve", actor, now, note=note)

        case = self._act(case_id, act)
        CASES_RESOLVED.inc()
        return case

    def close(self, case_id: int, actor: str) -> Case:
        """resolved -> closed."""
        return self._act(case_id, lambda s, c, now: lifecycle.transition(s, c, "close", actor, now))

    def reopen(self, case_id: int, actor: str, reason: str = "") -> Case:
        """resolved/closed -> open (refused while another case is open for the same problem)."""
        return self._act(
            case_id,
            lambda s, c, now: lifecycle.transition(s, c, "reopen", actor, now, reason=reason),
        )

    def assign(self, case_id: int, agent_id: int | None, actor: str, override: str = "") -> Case:
        """Assign to an active agent, or unassign with ``agent_id=None``. An agent who
        lacks the case's product line, skill or language is refused (``AgentMismatch``)
        unless ``override`` says why; the reason goes on the timeline."""
        reason = f"assigned by {actor}" if agent_id is not None else f"unassigned by {actor}"

        def act(session: Session, case: Case, now: datetime) -> None:
            missing = check_fit(session, case, agent_id, need_of(case, self.profiles), override)
            lifecycle.assign(session, case, agent_id, actor, now, reason)
            if missing:
                lifecycle.log(
                    session, case, actor, "assign_override", now, lacks=missing,
                    reason=override.strip(),
                )  # fmt: skip

        return self._act(case_id, act)

    def add_note(self, case_id: int, actor: str, text: str) -> Case:
        """A free-text note on the timeline."""

        def act(session: Session, case: Case, now: datetime) -> None:
            case.updated_at = now
            lifecycle.log(session, case, actor, "note", now, text=text)

        return self._act(case_id, act)

    def _act(self, case_id: int, action: Callable[[Session, Case, datetime], Any]) -> Case:
        with self.session_factory.begin() as session:
            case = lifecycle.load(session, case_id)
            action(session, case, self._now())
            session.flush()
            return case
