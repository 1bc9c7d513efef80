"""Send outbox rows: claim with a lease, deliver, record every attempt, retry or fall back.

What follows a failed send (retry the contact point, the next one, another round, give
up once ``notify.give_up_after_s`` is spent) is decided by ``tickets.retry``.

At least once; exactly once where the receiver deduplicates:

1. *Claim* (own transaction): due rows (``pending`` and due, or ``sending`` with an
   expired lease) are switched to ``sending`` with ``lease_until = now + lease_s`` by a
   compare-and-set UPDATE; on PostgreSQL the candidate SELECT uses ``FOR UPDATE SKIP
   LOCKED`` so parallel dispatchers take disjoint rows.
2. *Send* (no transaction open) with the row's idempotency key.
3. *Mark* (own transaction): the attempt is recorded and the row updated, but only if
   our lease is still the row's lease (a slow dispatcher cannot overwrite a newer claim).

A crash between 2 and 3 leaves the row ``sending``; once the lease expires another
dispatcher re-claims it and sends again *with the same idempotency key*, logging an
"outcome unknown" attempt. Nothing is lost, but delivery is at least once: only a
receiver that drops a key it has seen turns that into exactly once. The log channel
does (one file per key, created exclusively); JSON/form/XML webhooks get the key as an
``Idempotency-Key`` header and do if they honour it. E-mail carries the header but no
mail client deduplicates on it, and Slack, Teams, LINE and SMS get no key at all, so
there the customer may see the message twice after such a crash (or after a send that
timed out once the provider had accepted it), never zero times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from core.clock import Clock, utc
from core.metrics import DISPATCHER_HEARTBEAT, NOTIFICATIONS
from tickets import delivery, retry
from tickets.agent_notices import AgentNoticeSender
from tickets.channels import (
    AppriseChannel,
    Channel,
    ChannelConfigError,
    CircuitBreaker,
    LogChannel,
    OutgoingMessage,
    SendResult,
)
from tickets.coalesce import coalesce
from tickets.lifecycle import log as timeline
from tickets.models import ContactPoint, DeliveryAttempt, Notification
from tickets.settings import NotifySettings, TicketsConfig

log = logging.getLogger(__name__)
ACTOR = "dispatcher"


def apprise_channel(notify: NotifySettings, clock: Clock = time.time) -> AppriseChannel:
    """The Apprise channel with the guard, breaker (on ``clock``) and timeout of
    ``notify``."""
    breaker = CircuitBreaker(notify.breaker_failures, notify.breaker_cooldown_s, clock)
    return AppriseChannel(
        notify.policy(),
        breaker,
        notify.timeout_s,
        smtp=notify.smtp,
        providers=notify.providers,
    )


class Dispatcher:
    """Delivers the outbox; ``run_once()`` for one pass, ``run_forever(stop)`` as a loop.

    Raises ``ChannelConfigError`` in production with ``notify.mode="log"`` (unless
    ``notify.allow_log_in_production``): that would write notices to files, silently."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        settings: TicketsConfig,
        clock: Clock = time.time,
        channels: Mapping[str, Channel] | None = None,
        batch_size: int = 50,
        lease_s: float = 120.0,
    ) -> None:
        if settings.production:
            try:
                settings.notify.refuse_in_production()
            except ValueError as exc:
                raise ChannelConfigError(str(exc)) from None
        self.session_factory = session_factory
        self.settings = settings
        self.clock = clock
        self.channels: Mapping[str, Channel] = channels or {
            "log": LogChannel(settings.outbox_dir),
            "apprise": apprise_channel(settings.notify, clock),
        }
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.last_pass: float | None = None  # monotonic time of the last loop pass
        self.agent_notices = AgentNoticeSender(session_factory, settings, self.channels, clock)

    def alive(self, max_silence_s: float = 30.0) -> bool:
        """True if ``run_forever`` went round its loop within ``max_silence_s`` (a pass
        that failed, e.g. with the case DB down, still counts: the loop is alive)."""
        last = self.last_pass
        limit = max(max_silence_s, 4 * self.settings.notify.poll_interval_s)
        return last is not None and time.monotonic() - last < limit

    def run_once(self) -> int:
        """Process every due row once (up to ``batch_size``), then the due agent notices
        (``tickets.agent_notices``); returns how many customer rows."""
        claimed = self._claim(utc(self.clock()))
        # oldest first within the batch, so a case's notices are judged in order (coalesce)
        for row_id, lease, reclaimed in sorted(claimed):
            self.last_pass = time.monotonic()  # a long batch of slow sends is still alive
            self._process(row_id, lease, reclaimed)
        self.agent_notices.run_once()
        return len(claimed)

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set; sleeps ``poll_interval_s`` when nothing is due."""
        while not stop.is_set():
            self.last_pass = time.monotonic()
            DISPATCHER_HEARTBEAT.set(time.time())
            try:
                busy = self.run_once()
            except Exception:  # keep the loop alive through a DB outage; it is logged
                log.exception("dispatcher pass failed")
                busy = 0
            if not busy:
                stop.wait(self.settings.notify.poll_interval_s)

    # -- claim --------------------------------------------------------------------------

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            and_(Notification.status == "pending", Notification.next_attempt_at <= now),
            and_(Notification.status == "sending", Notification.lease_until < now),
        )

    def _claim(self, now: datetime) -> list[tuple[int, datetime, bool]]:
        lease = now + timedelta(seconds=self.lease_s)
        with self.session_factory.begin() as session:
            query = (
                select(Notification.id, Notification.status)
                .where(self._due(now))
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(self.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            claimed = []
            for row_id, status in session.execute(query).all():
                result = session.execute(
                    update(Notification)
                    .where(Notification.id == row_id, self._due(now))
                    .values(status="sending", lease_until=lease)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append((row_id, lease, status == "sending"))
        return claimed

    # -- deliver ------------------------------------------------------------------------

    def _process(self, row_id: int, lease: datetime, reclaimed: bool) -> None:
        now = utc(self.clock())
        with self.session_factory() as session:
            row = session.get_one(Notification, row_id)
            decision = coalesce(session, row, now) or delivery.decide(row, self.settings, now)
            message = delivery.message_of(row, decision.target.channel) if decision.target else None
        result = None
        if decision.target is not None and message is not None:
            result = self._send(decision.target, message)
        with self.session_factory.begin() as session:
            row = session.get_one(Notification, row_id, with_for_update=True)
            if row.status != "sending" or row.lease_until != lease:
                log.warning("lost the lease on notification %s; not marking it", row_id)
                return
            if reclaimed:
                self._attempt(session, row, None, retry.OUTCOME_UNKNOWN, now)
            self._apply(session, row, decision, result, now)

    def _send(self, target: delivery.Target, message: OutgoingMessage) -> SendResult:
        channel = self.channels.get(target.key)
        if channel is None:
            return SendResult.failed(f"no {target.key!r} channel configured", recoverable=False)
        return channel.send(target.url, message)

    def _apply(
        self,
        session: Session,
        row: Notification,
        decision: delivery.Decision,
        result: SendResult | None,
        now: datetime,
    ) -> None:
        row.lease_until = None
        if decision.action == "skip":
            row.status, row.last_error = "skipped", decision.reason
            timeline(session, row.case, ACTOR, "notification_skipped", now, reason=decision.reason)
        elif decision.action == "defer":
            row.status, row.next_attempt_at = "pending", decision.until or now
            row.last_error = decision.reason
        elif decision.action == "fail" or result is None:
            self._give_up(session, row, decision.reason, now)
        else:
            self._record(session, row, decision.target, result, now)  # type: ignore[arg-type]

    def _record(
        self,
        session: Session,
        row: Notification,
        target: delivery.Target,
        result: SendResult,
        now: datetime,
    ) -> None:
        log_mode = self.settings.notify.mode == "log"
        contact_id = target.contact.id if target.contact and not log_mode else None
        self._attempt(session, row, result, "", now, target.channel, contact_id)
        NOTIFICATIONS.labels(target.channel, "sent" if result.ok else "failed").inc()
        if target.contact is not None and row.contact_point_id != target.contact.id:
            row.contact_point_id, row.channel = target.contact.id, target.contact.channel
        if result.ok:
            row.status, row.sent_at, row.last_error = "sent", now, ""
            timeline(
                session,
                row.case,
                ACTOR,
                "notified",
                now,
                notification_id=row.id,
                kind=row.kind,
                channel=target.channel,
                duplicate=result.duplicate,
            )
            return
        row.last_error = result.error
        self._retry(session, row, target, now)

    def _retry(
        self, session: Session, row: Notification, target: delivery.Target, now: datetime
    ) -> None:
        """Schedule the next try (same or next contact point) or give up (``tickets.retry``)."""
        plan = retry.plan(self._history(session, row.id), self._slots(row), self.settings, now)
        if plan.action == "give_up" or plan.at is None:
            self._give_up(session, row, f"{plan.reason}; last: {row.last_error}", now)
            return
        row.status, row.next_attempt_at = "pending", plan.at
        following = session.get(ContactPoint, plan.slot) if plan.slot is not None else None
        if following is None or following.id == row.contact_point_id:
            return
        row.contact_point_id, row.channel = following.id, following.channel
        timeline(
            session,
            row.case,
            ACTOR,
            "channel_fallback",
            now,
            notification_id=row.id,
            from_channel=target.channel,
            to_channel=following.channel,
            error=row.last_error,
            next_attempt_at=plan.at.isoformat(),
        )

    def _slots(self, row: Notification) -> list[retry.Slot]:
        if self.settings.notify.mode == "log":
            return [None]
        return [contact.id for contact in row.customer.contacts if contact.enabled]

    def _give_up(self, session: Session, row: Notification, reason: str, now: datetime) -> None:
        row.status, row.last_error = "failed", reason
        timeline(
            session,
            row.case,
            ACTOR,
            "notification_failed",
            now,
            notification_id=row.id,
            reason=reason,
        )
        log.warning("notification %s for case %s failed: %s", row.id, row.case_id, reason)

    def _attempt(
        self,
        session: Session,
        row: Notification,
        result: SendResult | None,
        note: str,
        now: datetime,
        channel: str | None = None,
        contact_id: int | None = None,
    ) -> None:
        row.attempts += 1
        session.add(
            DeliveryAttempt(
                notification_id=row.id,
                at=now,
                channel=channel or row.channel,
                contact_point_id=contact_id if channel else row.contact_point_id,
                ok=bool(result and result.ok),
                error=result.error if result else note,
                recoverable=bool(result.recoverable) if result else True,
            )
        )

    def _history(self, session: Session, row_id: int) -> list[retry.Tried]:
        session.flush()
        found = session.scalars(
            select(DeliveryAttempt)
            .where(
                DeliveryAttempt.notification_id == row_id,
                DeliveryAttempt.error != retry.OUTCOME_UNKNOWN,
            )
            .order_by(DeliveryAttempt.id)
        )
        return [retry.Tried(a.contact_point_id, a.at, a.ok, a.recoverable) for a in found]
