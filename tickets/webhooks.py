"""Signed outbound webhooks: every case event, in order, to each subscriber (Zendesk,
ServiceNow, Slack or a CRM behind a small adapter).

The relay follows the case timeline (``case_events``, whose ids only grow) with one
cursor per subscriber URL in ``webhook_cursors``. Each event becomes one JSON POST
(schema in docs/service-desk.md), signed like inbound webhooks (``tickets.signing``) and
carrying ``Idempotency-Key: kizuki-event-<id>``. A subscriber that fails (network error,
HTTP 5xx/408/429) is retried with doubling waits, in order, up to ``max_attempts``; then
the event is skipped for it and logged. A 4xx other than 408/429 is permanent: skipped
at once. Delivery is at least once (a crash between POST and cursor save repeats one).

Every POST passes the SSRF guard at send time and goes to the address it checked
(:mod:`tickets.channels.pinned`); a refused target is logged and retried like a network
error, so fixing DNS or ``integrations.allow_targets`` lets the events through.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from tickets.channels.guard import TargetPolicy, UnsafeTarget
from tickets.channels.pinned import guarded_client
from tickets.models import Case, CaseEvent, WebhookCursor
from tickets.settings import WebhookTarget
from tickets.signing import headers as signed

log = logging.getLogger(__name__)
EVENT_TYPES = {
    "opened": "case.opened",
    "opened_by_hand": "case.updated",
    "resolve": "case.resolved",
    "message_in": "message.in",
    "message_out": "message.out",
}
RETRYABLE = frozenset({408, 425, 429})


def event_type(kind: str) -> str:
    """The webhook type of a timeline entry: case.opened, case.resolved, message.in,
    message.out, or case.updated for everything else."""
    return EVENT_TYPES.get(kind, "case.updated")


def payload(event: CaseEvent, case: Case, base_url: str) -> dict[str, Any]:
    """The JSON body for one timeline entry (see docs/service-desk.md)."""
    return {
        "id": f"kizuki-event-{event.id}",
        "type": event_type(event.kind),
        "occurred_at": event.at.isoformat(),
        "event": {"kind": event.kind, "actor": event.actor, "detail": event.detail},
        "case": {
            "id": case.id,
            "url": f"{base_url.rstrip('/')}/cases/{case.id}",
            "status": case.status,
            "severity": case.severity,
            "priority": case.priority,
            "title": case.title,
            "device_id": case.device_id,
            "model": case.model,
            "failure_mode": case.failure_mode,
            "customer_id": case.customer_id,
            "assignee_id": case.assignee_id,
            "external_ref": case.external_ref or None,
            "opened_at": case.opened_at.isoformat(),
            "sla_due_at": case.sla_due_at.isoformat(),
        },
    }


@dataclass
class _Backoff:
    attempts: int = 0
    not_before: float = 0.0


@dataclass
class WebhookRelay:
    """Posts new case events to every target; ``run_once()`` for one pass."""

    session_factory: sessionmaker[Session]
    targets: Sequence[WebhookTarget]
    base_url: str
    clock: Clock = time.time
    policy: TargetPolicy = field(
        default_factory=lambda: TargetPolicy(setting="integrations.allow_targets")
    )
    batch: int = 100
    _backoff: dict[str, _Backoff] = field(default_factory=dict)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = guarded_client(self.policy)

    def problems(self) -> list[str]:
        """Why a subscriber would be refused right now (its name resolves to a private
        address, or not at all): the engine logs these at start, before any event."""
        found = []
        for target in self.targets:
            try:
                self.policy.check_url(target.url)
            except UnsafeTarget as exc:
                found.append(f"webhook {target.url}: {exc}")
        return found

    def run_once(self) -> int:
        """Deliver what each target has not had yet; returns how many were delivered."""
        return sum(self._target_once(target) for target in self.targets)

    def run_forever(self, stop: threading.Event, every_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep relaying through a DB outage; it is logged
                log.exception("webhook relay pass failed")
            stop.wait(every_s)

    def _target_once(self, target: WebhookTarget) -> int:
        state = self._backoff.setdefault(target.url, _Backoff())
        if time.monotonic() < state.not_before:
            return 0
        done = 0
        with self.session_factory() as session:
            after = self._cursor(session, target.url)
            events = session.scalars(
                select(CaseEvent)
                .where(CaseEvent.id > after)
                .order_by(CaseEvent.id)
                .limit(self.batch)
            ).all()
            for event in events:
                outcome = "skip"
                if not target.events or event_type(event.kind) in target.events:
                    outcome = self._deliver(target, payload(event, event.case, self.base_url))
                if outcome == "retry" and not self._give_up(target, state, event.id):
                    break
                state.attempts = 0
                self._save(target.url, event.id)
                done += outcome == "ok"
        return done

    def _deliver(self, target: WebhookTarget, body: dict[str, Any]) -> str:
        """ "ok", "retry" (try again later) or "skip" (refused for good)."""
        try:
            return "ok" if self._post(target, body) else "retry"
        except _Permanent:
            return "skip"

    def _post(self, target: WebhookTarget, body: dict[str, Any]) -> bool:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        head = signed(target.secret.get_secret_value(), int(time.time()), raw)
        head |= {
            "Content-Type": "application/json",
            "Idempotency-Key": body["id"],
            "X-Kizuki-Event": body["type"],
        }
        try:
            response = self.client.post(target.url, content=raw, headers=head)
        except httpx.HTTPError as exc:
            log.warning("webhook %s: %s", target.url, exc)
            return False
        if response.is_success:
            return True
        code = response.status_code
        log.warning("webhook %s answered %s for %s", target.url, code, body["id"])
        if 400 <= code < 500 and code not in RETRYABLE:
            raise _Permanent(code)
        return False

    def _give_up(self, target: WebhookTarget, state: _Backoff, event_id: int) -> bool:
        """After a failed POST: wait and retry later (False), or skip the event (True)."""
        state.attempts += 1
        if state.attempts >= target.max_attempts:
            log.error("webhook %s: giving up on event %s", target.url, event_id)
            return True
        state.not_before = time.monotonic() + target.backoff_s * 2 ** (state.attempts - 1)
        return False

    def _cursor(self, session: Session, url: str) -> int:
        row = session.get(WebhookCursor, url)
        if row is None:  # a new subscriber starts from now, not from the first case ever
            newest = session.scalar(select(CaseEvent.id).order_by(CaseEvent.id.desc()).limit(1))
            self._save(url, int(newest or 0))
            return int(newest or 0)
        return row.last_event_id

    def _save(self, url: str, event_id: int) -> None:
        with self.session_factory.begin() as session:
            row = session.get(WebhookCursor, url) or WebhookCursor(url=url, last_event_id=0)
            row.last_event_id = max(row.last_event_id, event_id)
            session.add(row)


class _Permanent(Exception):
    """A subscriber refused an event for good (HTTP 4xx)."""
