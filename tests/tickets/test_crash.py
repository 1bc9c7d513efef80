"""A dispatcher killed between send and mark: nothing lost, nothing shown twice.

The child process sends one notification through the real channel and dies with
``os._exit`` before it can mark the row. The row stays ``sending`` under its lease; after
the lease expires another dispatcher re-sends it with the same idempotency key, which
the receiver (webhook: ``Idempotency-Key`` header; log channel: exclusive file per key)
uses to drop the duplicate.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.tickets.conftest import FakeClock, WebhookReceiver, make_event
from tickets.dispatcher import Dispatcher
from tickets.models import CaseEvent, DeliveryAttempt, Notification
from tickets.registry import import_manifest
from tickets.service import CaseService

CHILD = textwrap.dedent(
    """
    import os, sys
    from kizuki.config import Settings
    from tickets.channels import AppriseChannel, LogChannel, TargetPolicy
    from tickets.db import make_session_factory
    from tickets.dispatcher import Dispatcher
    from tickets.settings import TicketsConfig

    url, data_dir, mode = sys.argv[1:4]
    settings = TicketsConfig.of(Settings(data_dir=data_dir, notify={"mode": mode}))

    class DieAfterSend:
        def __init__(self, inner):
            self.inner, self.name = inner, inner.name

        def send(self, url, message):
            result = self.inner.send(url, message)
            os._exit(70 if result.ok else 71)  # dies before the row is marked

    channels = {"apprise": DieAfterSend(AppriseChannel(TargetPolicy(("127.0.0.1",)))),
                "log": DieAfterSend(LogChannel(settings.outbox_dir))}
    Dispatcher(make_session_factory(url), settings, channels=channels, batch_size=1).run_once()
    sys.exit(0)
    """
)
LEASE_S = 120.0


def crash_dispatcher(db_url: str, data_dir: Path, mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, db_url, str(data_dir), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (70, 71), done.stderr
    return done.returncode


@pytest.fixture
def three_notices(session_factory, profiles, settings, webhook: WebhookReceiver):
    import_manifest(
        session_factory,
        {
            "customers": [
                {"id": f"c-{i}", "name": f"Customer {i}", "contacts": [{"url": webhook.url}]}
                for i in range(3)
            ],
            "devices": [
                {"id": f"ac-{i}", "model": "aircon-x1", "customer_id": f"c-{i}"} for i in range(3)
            ],
        },
    )
    service = CaseService(session_factory, profiles, settings, clock=FakeClock())
    for i in range(3):
        service.handle(make_event(f"ac-{i}"))
    return session_factory


def statuses(factory) -> list[str]:
    with factory() as session:
        return list(session.scalars(select(Notification.status).order_by(Notification.id)))


def test_webhook_crash_between_send_and_mark(three_notices, db_url, settings, webhook):
    assert crash_dispatcher(db_url, settings.outbox_dir.parent, "apprise") == 70
    assert len(webhook.requests) == 1 and statuses(three_notices).count("sending") == 1

    clock = FakeClock(datetime.now(UTC))
    dispatcher = Dispatcher(three_notices, settings, clock=clock, lease_s=LEASE_S)
    assert dispatcher.run_once() == 2  # the leased row waits for its lease to expire
    clock.advance(LEASE_S + 1)
    assert dispatcher.run_once() == 1  # re-claimed and re-sent with the same key
    assert dispatcher.run_once() == 0

    assert statuses(three_notices) == ["sent"] * 3
    with three_notices() as session:
        keys = set(session.scalars(select(Notification.idempotency_key)))
        errors = list(
            session.scalars(select(DeliveryAttempt.error).where(DeliveryAttempt.ok.is_(False)))
        )
    assert set(webhook.delivered()) == keys  # nothing lost
    assert len(webhook.requests) == 4  # one re-send on the wire, carrying the same key
    assert len(errors) == 1 and "outcome unknown" in errors[0]


def test_log_channel_crash_between_send_and_mark_writes_once(three_notices, db_url, settings):
    settings.notify.mode = "log"
    assert crash_dispatcher(db_url, settings.outbox_dir.parent, "log") == 70
    clock = FakeClock(datetime.now(UTC) + timedelta(seconds=LEASE_S + 1))
    assert Dispatcher(three_notices, settings, clock=clock, lease_s=LEASE_S).run_once() == 3
    assert statuses(three_notices) == ["sent"] * 3
    assert len(list(settings.outbox_dir.glob("*.json"))) == 3  # exactly one file each
    with three_notices() as session:
        details = list(
            session.scalars(select(CaseEvent.detail).where(CaseEvent.kind == "notified"))
        )
    assert sorted(d["duplicate"] for d in details) == [False, False, True]


def test_outcome_unknown_does_not_use_up_a_channels_tries(
    session_factory, profiles, settings, db_url, webhook
):
    """The crashed send's outcome is unknown, so the webhook still gets max_attempts (3)
    real tries before the next contact point (the log channel) takes over."""
    import_manifest(
        session_factory,
        {
            "customers": [
                {"id": "c-1", "name": "Alex", "contacts": [{"url": webhook.url}, {"url": "log://"}]}
            ],
            "devices": [{"id": "ac-1", "model": "aircon-x1", "customer_id": "c-1"}],
        },
    )
    CaseService(session_factory, profiles, settings, clock=FakeClock()).handle(make_event("ac-1"))
    webhook.statuses = [503] * 10
    died = crash_dispatcher(db_url, settings.outbox_dir.parent, "apprise")
    assert died == 71  # failed, then died
    clock = FakeClock(datetime.now(UTC) + timedelta(seconds=LEASE_S + 1))
    dispatcher = Dispatcher(session_factory, settings, clock=clock, lease_s=LEASE_S)
    for wait in (1.0, 2.0, 0.0):  # backoff 1 s, 2 s, then the log channel at once
        assert dispatcher.run_once() == 1
        clock.advance(wait)
    assert dispatcher.run_once() == 1
    assert webhook.hits == 1 + 3 and statuses(session_factory) == ["sent"]
    with session_factory() as session:
        found = session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
        tried = [(a.channel, a.ok, "outcome unknown" in a.error) for a in found]
    unknown, failed = ("webhook", False, True), ("webhook", False, False)
    assert tried == [unknown, failed, failed, failed, ("log", True, False)]
