"""Retry with a time budget: a receiver that is down for a while still gets the message.

A real loopback webhook is taken down (connection refused) and brought back on the same
port; the dispatcher runs on a settable clock, so an hour of retries takes milliseconds.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kizuki.config import Settings
from tests.conftest import free_port
from tests.tickets.conftest import FakeClock, WebhookReceiver, make_event
from tickets.dispatcher import Dispatcher
from tickets.models import CaseEvent, DeliveryAttempt, Notification
from tickets.registry import import_manifest
from tickets.service import CaseService


def closed_mailto() -> str:
    return f"mailto://127.0.0.1:{free_port()}?mode=insecure&from=k@example.com&to=a@example.com"


def one_customer(factory: sessionmaker[Session], *urls: str) -> None:
    import_manifest(
        factory,
        {
            "customers": [{"id": "c-1", "name": "Alex", "contacts": [{"url": u} for u in urls]}],
            "devices": [{"id": "ac-1", "model": "aircon-x1", "customer_id": "c-1"}],
        },
    )


def row(factory: sessionmaker[Session]) -> Notification:
    with factory() as session:
        return session.scalars(select(Notification)).one()


def attempts(factory: sessionmaker[Session]) -> list[tuple[str, bool, bool]]:
    with factory() as session:
        found = session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
        return [(a.channel, a.ok, a.recoverable) for a in found]


def drive(dispatcher: Dispatcher, factory, clock: FakeClock, until) -> list[float]:
    """Run the dispatcher at each due time while ``until(clock)`` is false; the waits."""
    waits = []
    while not until(clock):
        assert dispatcher.run_once() == 1
        current = row(factory)
        if current.status != "pending":
            break
        waits.append((current.next_attempt_at - clock.now).total_seconds())
        clock.now = current.next_attempt_at
    return waits


@pytest.fixture
def notice(session_factory, profiles, settings: Settings, clock: FakeClock):
    def make(*urls: str) -> int:
        one_customer(session_factory, *urls)
        service = CaseService(session_factory, profiles, settings, clock=clock)
        return service.handle(make_event("ac-1", at=clock.now)).case_id  # type: ignore[return-value]

    return make


def test_webhook_down_for_ten_minutes_gets_the_notice_when_back(
    notice, session_factory, settings, clock, webhook: WebhookReceiver
):
    settings.notify.max_backoff_s = 60.0
    notice(webhook.url)
    webhook.stop()
    back_at = clock.now + timedelta(minutes=10)
    waits = drive(
        Dispatcher(session_factory, settings, clock=clock),
        session_factory,
        clock,
        until=lambda c: c.now >= back_at,
    )
    # backoff_s=1 doubling, capped at 60 s; 3 tries a round, then round again (one channel)
    assert waits[:8] == [1, 2, 4, 8, 16, 32, 60, 60] and set(waits[8:]) == {60}
    assert row(session_factory).status == "pending"
    webhook.start()
    assert Dispatcher(session_factory, settings, clock=clock).run_once() == 1
    sent = row(session_factory)
    assert sent.status == "sent" and list(webhook.delivered()) == [sent.idempotency_key]
    failures = len(waits)
    assert attempts(session_factory) == [("webhook", False, True)] * failures + [
        ("webhook", True, False)
    ]


def test_budget_spent_marks_the_notice_failed_on_the_record(
    notice, session_factory, settings, clock, webhook: WebhookReceiver
):
    settings.notify.give_up_after_s = 600.0
    case_id = notice(webhook.url)
    webhook.stop()
    first = clock.now
    drive(
        Dispatcher(session_factory, settings, clock=clock),
        session_factory,
        clock,
        until=lambda c: False,
    )
    failed = row(session_factory)
    assert failed.status == "failed" and "gave up after 10 min of retries" in failed.last_error
    with session_factory() as session:
        times = list(session.scalars(select(DeliveryAttempt.at).order_by(DeliveryAttempt.id)))
        kinds = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)))
    assert times[-1] == first + timedelta(seconds=600)  # the last try is at the deadline
    assert kinds[-1] == "notification_failed"


def test_permanently_failed_channel_is_not_retried_in_later_rounds(
    notice, session_factory, settings, clock, webhook: WebhookReceiver
):
    webhook.statuses = [400] * 50
    notice(webhook.url, closed_mailto())
    dispatcher = Dispatcher(session_factory, settings, clock=clock)
    waits = drive(
        dispatcher, session_factory, clock, until=lambda c: len(attempts(session_factory)) >= 10
    )
    assert webhook.hits == 1
    assert attempts(session_factory) == [("webhook", False, False)] + [("email", False, True)] * 9
    assert waits == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256]  # e-mail at once, then rounds
    assert row(session_factory).status == "pending"


def test_every_channel_failing_permanently_gives_up_at_once(
    notice, session_factory, settings, clock, webhook: WebhookReceiver
):
    webhook.statuses = [404]
    notice(webhook.url, "mailto://")  # a known scheme, but no usable address
    dispatcher = Dispatcher(session_factory, settings, clock=clock)
    assert dispatcher.run_once() == 1 and dispatcher.run_once() == 1
    failed = row(session_factory)
    assert failed.status == "failed" and "every channel failed permanently" in failed.last_error
    assert attempts(session_factory) == [("webhook", False, False), ("email", False, False)]
