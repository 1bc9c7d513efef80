"""CaseService: anomaly events in, one case per (device, failure mode) out.

* ``handle(event)``: an "anomaly" opens a case (routed, on the timeline, with a
  "detected" notice in the outbox, all in one transaction) or updates the open one; a
  recurrence within ``cases.reopen_within_s`` (telemetry time) of a resolved case's last
  anomaly reopens that case. An "update" (the newest numbers of an open anomaly) refreshes
  the open case and escalates it when the severity rises (``tickets.evidence``); an
  escalated case goes to an agent of the tier its severity needs (``cases.min_tier``) and
  the agents are told (``tickets.escalation``). A
  "recovery" starts the case's healthy clock. Events are idempotent: one no newer than
  what the case already holds (a duplicate, a replay, late data) changes nothing.
* Maintenance is judged per event, at the event's time: a ``suppress`` window opens no
  case (an open one is still updated), and no notice goes out for an event inside any
  window. After the window, a case the customer never heard of is announced
  ("detected") by its next anomaly.
* ``tick(now)``: resolves cases whose device stayed healthy for
  ``settings.cases.auto_resolve_after_s`` of *telemetry* time (``evidence(device)`` gives
  the newest healthy evidence; without it the server clock stands in) and queues an
  "all clear" notice; every
  ``settings.cases.reroute_every_s`` it also offers unassigned cases to the agents again
  (``tickets.queue``).
* ``acknowledge/start/assign/add_note/resolve/close/reopen/review`` (and ``write``/``link``
  from ``tickets.desk_actions``): the lifecycle for the API; errors are the
  ``tickets.lifecycle`` hierarchy (``CaseError`` and subclasses). ``resolve`` takes a
  resolution code and a note (``tickets.resolution``).
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
from core.clock import Clock
from core.events import AnomalyEvent
from core.metrics import CASES_OPENED, CASES_RESOLVED
from core.profiles import DeviceProfile
from tickets import cases as rules
from tickets import evidence, lifecycle, resolution
from tickets.actions import CaseActions
from tickets.anomalies import apply_repeat, new_case_values
from tickets.desk_actions import DeskActions
from tickets.escalation import after_escalation
from tickets.fit import AgentMismatch
from tickets.lifecycle import CaseError, CaseNotFound, InvalidTransition, UnknownAgent
from tickets.models import Case, Device, MaintenanceWindow
from tickets.outbox import enqueue, pull_forward
from tickets.queue import route_queue
from tickets.resolution import InvalidResolution, NeedsConfirmation
from tickets.routing import need_of, route
from tickets.settings import TicketsConfig
from tickets.snapshot import Telemetry, take_snapshot

__all__ = [
    "AgentMismatch",
    "CaseError",
    "CaseNotFound",
    "CaseService",
    "InvalidResolution",
    "InvalidTransition",
    "NeedsConfirmation",
    "Outcome",
    "UnknownAgent",
]
log = logging.getLogger(__name__)
SYSTEM = "kizuki"
RACE_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``handle`` did with one event."""

    action: Literal["opened", "updated", "reopened", "suppressed", "recovering", "ignored"]
    case_id: int | None = None
    detail: str = ""


class CaseService(CaseActions, DeskActions):
    """Cases from anomaly events, and the case lifecycle (see the module docstring)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        profiles: Mapping[str, DeviceProfile],
        settings: TicketsConfig,
        clock: Clock = time.time,
        telemetry: Telemetry | None = None,
        snapshot_before_s: float = 6 * 3600.0,
        evidence: Callable[[str], float | None] | None = None,
    ) -> None:
        """``evidence(device_id)``: telemetry time of the device's newest reading the
        detectors have judged (auto-resolve waits for healthy evidence, not wall time)."""
        self.session_factory = session_factory
        self.profiles = profiles
        self.settings = settings
        self.clock = clock
        self.telemetry = telemetry
        self.snapshot_before_s = snapshot_before_s
        self.evidence = evidence
        self._routed_at: datetime | None = None

    # -- events -------------------------------------------------------------------------

    def handle(self, event: AnomalyEvent) -> Outcome:
        """Open, update or start recovering the case for ``event``."""
        if event.kind == "recovery":
            return self._recover(event)
        if event.kind == "update":
            return self._update(event)
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
        earlier = self._earlier(session, device.id, event, now, announce=not quiet)
        if earlier is not None:
            return earlier
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

    def _earlier(
        self, session: Session, device_id: str, event: AnomalyEvent, now: datetime, announce: bool
    ) -> Outcome | None:
        """What an earlier case makes of the event: the open case takes it, a stale event
        is ignored, a recurrence soon after a resolution reopens; None: open a new case."""
        found = rules.find_open(session, device_id, event.failure_mode, lock=True)
        if found:
            return self._repeated(session, found[0], event, now, announce)
        last = rules.latest_case(session, device_id, event.failure_mode)
        if last is None:
            return None
        seen = last.last_anomaly_at.timestamp()
        if event.ts <= seen:
            return Outcome("ignored", last.id, "stale: the case already holds newer evidence")
        if last.status != "resolved" or event.ts - seen > self.settings.cases.reopen_within_s:
            return None
        try:
            lifecycle.transition(session, last, "reopen", SYSTEM, now, reason="recurred")
        except InvalidTransition:
            return None  # a concurrent event opened a case: the insert below finds it
        last.resolution_code, last.resolution_note = None, ""
        outcome = self._repeated(session, last, event, now, announce=False)
        if announce:  # the customer was told it was over: it is back
            enqueue(session, self.settings, last, "detected", self.profiles, now)
        return Outcome("reopened", last.id, outcome.detail)

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
            session,
            case,
            SYSTEM,
            "opened",
            now,
            severity=case.severity,
            priority=case.priority,
            score=case.score,
            why=event.why.text,
            quiet=case.quiet,
            at=event.ts,
        )
        decision = route(session, need_of(case, self.profiles, self.settings.cases.min_tier))
        lifecycle.assign(session, case, decision.agent_id, SYSTEM, now, decision.reason)
        if not case.quiet:  # opened in a maintenance window: the customer is not told
            enqueue(session, self.settings, case, "detected", self.profiles, now)

    def _repeated(
        self, session: Session, case: Case, event: AnomalyEvent, now: datetime, announce: bool
    ) -> Outcome:
        if event.ts <= case.last_anomaly_at.timestamp():
            return Outcome("ignored", case.id, "stale: the case already holds newer evidence")
        before = case.severity
        raised = apply_repeat(case, event, self.settings, now)
        lifecycle.log(
            session,
            case,
            SYSTEM,
            "severity_raised" if raised else "anomaly_again",
            now,
            severity_from=before,
            severity_to=case.severity,
            score=float(event.score),
            why=event.why.text,
            in_maintenance=not announce,
        )
        if raised:
            after_escalation(
                session, case, self.profiles, self.settings.cases.min_tier, SYSTEM, now
            )
        if announce:
            self._announce(session, case, raised, now)
        if raised and case.severity == "critical":
            pull_forward(session, case.id, now)
        return Outcome("updated", case.id, "severity raised" if raised else "")

    def _announce(self, session: Session, case: Case, raised: bool, now: datetime) -> None:
        """Tell the customer: "detected" if they never heard of this case (it opened in a
        maintenance window that has ended since), "update" when the severity rose to one
        that changes what they should do (``tickets.evidence.tell_customer``)."""
        if evidence.last_notice_at(session, case.id) is None:
            enqueue(session, self.settings, case, "detected", self.profiles, now)
        elif raised and evidence.tell_customer(session, case, self.settings, now):
            enqueue(session, self.settings, case, "update", self.profiles, now)

    def _update(self, event: AnomalyEvent) -> Outcome:
        """The newest numbers of an open anomaly: refresh the case, escalate if needed."""
        now = self._now()
        with self.session_factory.begin() as session:
            found = rules.find_open(session, event.device_id, event.failure_mode, lock=True)
            if not found:
                return Outcome("ignored", None, "no open case")
            case = found[0]
            escalated = evidence.refresh(session, case, event, self.settings, now, SYSTEM)
            if escalated is None:
                return Outcome("ignored", case.id, "stale: the case already holds newer evidence")
            if escalated:
                self._escalated(session, case, now, event.ts)
        return Outcome("updated", case.id, "escalated" if escalated else "")

    def _escalated(self, session: Session, case: Case, now: datetime, ts: float) -> None:
        """A case whose severity rose: route it for the tier it needs now and tell the
        agents (``tickets.escalation``), hurry its notices when critical, tell the
        customer if the policy says so."""
        tiers = self.settings.cases.min_tier
        after_escalation(session, case, self.profiles, tiers, SYSTEM, now)
        if case.severity == "critical":
            pull_forward(session, case.id, now)
        window = rules.maintenance_at(session, case.device_id, rules.as_datetime(ts))
        if window is None:
            self._announce(session, case, True, now)

    def _recover(self, event: AnomalyEvent) -> Outcome:
        at, now = rules.as_datetime(event.ts), self._now()
        with self.session_factory.begin() as session:
            cases = rules.find_open(session, event.device_id, event.failure_mode, lock=True)
            cases = [c for c in cases if c.last_anomaly_at < at]  # older ones are stale
            for case in cases:
                if case.healthy_since is None:
                    case.healthy_since, case.updated_at = at, now
                    lifecycle.log(
                        session, case, SYSTEM, "recovering", now, healthy_since=at.isoformat()
                    )
        if not cases:
            return Outcome("ignored", None, "no open case older than the recovery")
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
        with self.session_factory() as session:
            candidates = session.execute(
                select(Case.id, Case.device_id, Case.healthy_since)
                .where(Case.status.in_(OPEN_STATUSES), Case.healthy_since.is_not(None))
                .order_by(Case.id)
            ).all()
        resolved = [
            case_id
            for case_id, device_id, since in candidates
            if self._healthy_long_enough(since, self._evidence_at(device_id, at))
            and self._auto_resolve(case_id, at)
        ]
        CASES_RESOLVED.inc(len(resolved))
        self._route_queue(at)
        return resolved

    def _evidence_at(self, device_id: str, now: datetime) -> datetime | None:
        """Telemetry time of the device's newest judged reading (server time without an
        evidence source)."""
        if self.evidence is None:
            return now
        ts = self.evidence(device_id)
        return rules.as_datetime(ts) if ts is not None else None

    def _healthy_long_enough(self, since: datetime | None, until: datetime | None) -> bool:
        if since is None or until is None:
            return False
        return (until - since).total_seconds() >= self.settings.cases.auto_resolve_after_s

    def _route_queue(self, at: datetime) -> None:
        """Every ``cases.reroute_every_s``: queued cases go to agents who can take them now."""
        every = timedelta(seconds=self.settings.cases.reroute_every_s)
        if self._routed_at is not None and abs(at - self._routed_at) < every:
            return
        self._routed_at = at
        tiers = self.settings.cases.min_tier
        if assigned := route_queue(self.session_factory, self.profiles, SYSTEM, at, tiers):
            log.info("assigned from the unassigned queue: cases %s", assigned)

    def _auto_resolve(self, case_id: int, at: datetime) -> bool:
        """Resolve one case if it is *still* open and healthy once locked (an anomaly may
        have arrived since the candidates were listed)."""
        with self.session_factory.begin() as session:
            case = lifecycle.load(session, case_id)
            until = self._evidence_at(case.device_id, at)
            if case.status not in OPEN_STATUSES or not self._healthy_long_enough(
                case.healthy_since, until
            ):
                return False
            assert case.healthy_since is not None and until is not None
            healthy_s = (until - case.healthy_since).total_seconds()
            self._resolve(
                session,
                case,
                SYSTEM,
                at,
                resolution.AUTO_CODE,
                "",
                auto=True,
                healthy_for_s=healthy_s,
            )
            return True
