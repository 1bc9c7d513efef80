"""The outbox dispatcher against a real SMTP server and a real webhook receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kizuki.config import NotifySettings, Settings
from tests.tickets.conftest import T0, FakeClock, WebhookReceiver, make_event
from tickets.channels import ChannelConfigError
from tickets.dispatcher import Dispatcher
from tickets.models import CaseEvent, Customer, DeliveryAttempt, Notification
from tickets.registry import import_manifest
from tickets.service import CaseService


def mailto(smtp, to: str = "customer@example.com") -> str:
    return f"mailto://{smtp.host}:{smtp.port}?mode=insecure&from=kizuki@example.com&to={to}"


@pytest.fixture
def customers(session_factory, smtp_server, webhook: WebhookReceiver):
    """c-web prefers its webhook then e-mail; c-mail (Japanese, quiet 22-7) has e-mail only."""
    import_manifest(
        session_factory,
        {
            "customers": [
                {
                    "id": "c-web",
                    "name": "Alex Smith",
                    "locale": "en",
                    "timezone": "Europe/London",
                    "contacts": [
                        {"url": webhook.url},
                        {"url": mailto(smtp_server, "alex@example.com")},
                    ],
                },
                {
                    "id": "c-mail",
                    "name": "佐藤 花子",
                    "locale": "ja",
                    "timezone": "Asia/Tokyo",
                    "quiet_hours": [22, 7],
                    "contacts": [{"url": mailto(smtp_server, "hanako@example.jp")}],
                },
            ],
            "devices": [
                {"id": "ac-w", "model": "aircon-x1", "customer_id": "c-web"},
                {"id": "ac-m", "model": "aircon-x1", "customer_id": "c-mail"},
                {"id": "pu-m", "model": "pump-p3", "customer_id": "c-mail"},
            ],
        },
    )
    return session_factory


@pytest.fixture
def service(customers, profiles, settings: Settings, clock: FakeClock) -> CaseService:
    return CaseService(customers, profiles, settings, clock=clock)


@pytest.fixture
def dispatcher(customers, settings: Settings, clock: FakeClock) -> Dispatcher:
    return Dispatcher(customers, settings, clock=clock)


def rows(factory: sessionmaker[Session]) -> list[Notification]:
    with factory() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def attempts(factory: sessionmaker[Session]) -> list[tuple[str, bool, bool]]:
    with factory() as session:
        found = session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))
        return [(a.channel, a.ok, a.recoverable) for a in found]


def body_of(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_email_over_real_smtp_carries_the_long_form(service, dispatcher, customers, smtp_server):
    service.handle(make_event("ac-m"))
    assert dispatcher.run_once() == 1
    [message] = smtp_server.wait_for(1)
    [row] = rows(customers)
    assert row.status == "sent" and row.channel == "email" and row.attempts == 1
    assert message["X-Envelope-To"] == "hanako@example.jp"
    assert message["Idempotency-Key"] == row.idempotency_key
    assert str(make_header(decode_header(message["Subject"]))) == row.subject
    body = body_of(message)
    assert "エアフィルターのお手入れをお願いします" in body
    assert f"https://kizuki.example/feedback/{row.feedback_token}?vote=down" in body
    assert attempts(customers) == [("email", True, False)]
    assert dispatcher.run_once() == 0  # nothing left to send


def test_webhook_gets_the_short_form_with_the_idempotency_key(
    service, dispatcher, customers, webhook
):
    service.handle(make_event("ac-w"))
    assert dispatcher.run_once() == 1
    [row] = rows(customers)
    assert row.status == "sent" and row.channel == "webhook"
    body = webhook.delivered()[row.idempotency_key]
    assert body["title"] == row.subject and body["message"] == row.short_body
    assert "Please clean the air filter" in body["message"]


def test_permanent_failure_falls_back_to_the_next_channel(
    service, dispatcher, customers, webhook, smtp_server
):
    webhook.statuses = [400]
    case_id = service.handle(make_event("ac-w")).case_id
    assert dispatcher.run_once() == 1  # webhook: 400 -> permanent -> fall back now
    assert dispatcher.run_once() == 1  # e-mail
    [message] = smtp_server.wait_for(1)
    assert message["X-Envelope-To"] == "alex@example.com"
    [row] = rows(customers)
    assert row.status == "sent" and row.channel == "email"
    assert attempts(customers) == [("webhook", False, False), ("email", True, False)]
    with customers() as session:
        kinds = session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id))
        assert "channel_fallback" in list(kinds)


def test_recoverable_failures_back_off_then_fall_back(
    service, dispatcher, customers, webhook, smtp_server, clock
):
    webhook.statuses = [503, 503, 503]
    service.handle(make_event("ac-w"))
    expected_waits = [1.0, 2.0]  # backoff_s=1, doubling; max_attempts=3 per channel
    for wait in expected_waits:
        assert dispatcher.run_once() == 1
        [row] = rows(customers)
        assert row.status == "pending"
        assert row.next_attempt_at == clock.now + timedelta(seconds=wait)
        assert dispatcher.run_once() == 0  # not due yet
        clock.advance(wait)
    assert dispatcher.run_once() == 1  # third failure -> e-mail is next
    assert dispatcher.run_once() == 1
    smtp_server.wait_for(1)
    assert attempts(customers) == [("webhook", False, True)] * 3 + [("email", True, False)]


def test_a_retry_that_succeeds_delivers_once(service, dispatcher, customers, webhook, clock):
    webhook.statuses = [500]
    service.handle(make_event("ac-w"))
    dispatcher.run_once()
    clock.advance(1.0)
    dispatcher.run_once()
    [row] = rows(customers)
    assert row.status == "sent" and len(webhook.requests) == 1
    assert attempts(customers) == [("webhook", False, True), ("webhook", True, False)]


def test_quiet_hours_defer_until_morning(service, dispatcher, customers, smtp_server, clock):
    clock.now = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    service.handle(make_event("ac-m", at=clock.now))
    assert dispatcher.run_once() == 1
    [row] = rows(customers)
    morning = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo
    assert row.status == "pending" and row.next_attempt_at == morning and row.attempts == 0
    clock.now = morning - timedelta(seconds=1)
    assert dispatcher.run_once() == 0
    clock.now = morning
    assert dispatcher.run_once() == 1
    smtp_server.wait_for(1)
    assert rows(customers)[0].status == "sent"


def test_critical_problem_is_sent_even_in_quiet_hours(
    service, dispatcher, customers, smtp_server, clock
):
    clock.now = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    service.handle(
        make_event("pu-m", "motor_overload", model="pump-p3", severity="critical", at=clock.now)
    )
    assert dispatcher.run_once() == 1
    [message] = smtp_server.wait_for(1)
    assert "ポンプ" in str(make_header(decode_header(message["Subject"])))


def test_escalation_to_critical_in_quiet_hours_is_sent_at_once(
    service, dispatcher, customers, smtp_server, clock
):
    clock.now = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    service.handle(make_event("ac-m", severity="low", at=clock.now))
    assert dispatcher.run_once() == 1  # "detected" held until 07:00
    assert smtp_server.wait_for(1, timeout=0.5) == []
    clock.advance(600)  # 23:40: the same problem is now critical
    service.handle(make_event("ac-m", severity="critical", at=clock.now))
    assert dispatcher.run_once() == 2  # the held notice is due again, with the update
    subjects = [str(make_header(decode_header(m["Subject"]))) for m in smtp_server.wait_for(2)]
    assert "【続報】" not in subjects[0] and "【続報】" in subjects[1]
    assert [(r.kind, r.status, r.sent_at) for r in rows(customers)] == [
        ("detected", "sent", clock.now),
        ("update", "sent", clock.now),
    ]


def test_escalation_below_critical_still_waits_for_morning(
    service, dispatcher, customers, smtp_server, clock
):
    clock.now = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    service.handle(make_event("ac-m", severity="low", at=clock.now))
    service.handle(make_event("ac-m", severity="high", at=clock.now + timedelta(seconds=1)))
    assert dispatcher.run_once() == 2
    morning = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    assert [(r.status, r.next_attempt_at) for r in rows(customers)] == [("pending", morning)] * 2
    assert smtp_server.wait_for(1, timeout=0.5) == []


def test_opted_out_customer_is_not_contacted(service, dispatcher, customers, smtp_server):
    with customers.begin() as session:
        session.get_one(Customer, "c-mail").opted_out = True
    service.handle(make_event("ac-m"))
    assert dispatcher.run_once() == 1
    [row] = rows(customers)
    assert row.status == "skipped" and "opted out" in row.last_error
    assert smtp_server.wait_for(1, timeout=0.5) == []


def test_log_mode_writes_one_file_per_notification(service, customers, settings, clock):
    settings.notify.mode = "log"
    service.handle(make_event("ac-w"))
    service.handle(make_event("ac-m"))
    assert Dispatcher(customers, settings, clock=clock).run_once() == 2
    files = sorted(settings.outbox_dir.glob("*.json"))
    assert [f.stem for f in files] == sorted(r.idempotency_key for r in rows(customers))
    assert {r.status for r in rows(customers)} == {"sent"}
    assert "案件" in "".join(f.read_text(encoding="utf-8") for f in files)


def test_parallel_dispatchers_never_send_a_row_twice(service, customers, settings, webhook):
    import threading

    for i in range(12):
        with customers.begin() as session:
            session.merge(Customer(id=f"c-{i}", name=f"n{i}", locale="en", timezone="UTC"))
        import_manifest(
            customers,
            {
                "customers": [
                    {"id": f"c-{i}", "name": f"n{i}", "contacts": [{"url": webhook.url}]}
                ],
                "devices": [{"id": f"ac-{i}", "model": "aircon-x1", "customer_id": f"c-{i}"}],
            },
        )
        service.handle(make_event(f"ac-{i}"))
    workers = [Dispatcher(customers, settings, batch_size=3) for _ in range(4)]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run_forever, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while len(webhook.requests) < 12 and datetime.now(UTC) < deadline:
        stop.wait(0.05)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(webhook.requests) == 12 == len(webhook.delivered())
    assert {r.status for r in rows(customers)} == {"sent"}


def test_all_channels_failing_marks_the_row_failed_on_the_record(
    service, customers, settings, clock, webhook
):
    from tickets.channels import LogChannel

    only_log = Dispatcher(
        customers, settings, clock=clock, channels={"log": LogChannel(settings.outbox_dir)}
    )
    case_id = service.handle(make_event("ac-w")).case_id
    assert only_log.run_once() == 1 and only_log.run_once() == 1
    [row] = rows(customers)
    assert row.status == "failed" and "no 'apprise' channel configured" in row.last_error
    with customers() as session:
        kinds = list(session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)))
    assert kinds[-2:] == ["channel_fallback", "notification_failed"]
    assert webhook.requests == []


def test_problem_over_during_quiet_hours_is_not_announced_at_all(
    service, dispatcher, customers, smtp_server, clock
):
    clock.now = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)  # 23:30 in Tokyo
    service.handle(make_event("ac-m", at=clock.now))
    dispatcher.run_once()  # deferred to 07:00
    service.handle(make_event("ac-m", kind="recovery", at=clock.now + timedelta(minutes=30)))
    clock.advance(2 * 3600)  # 01:30: healthy for over an hour -> auto-resolved
    assert len(service.tick(clock.now)) == 1
    clock.now = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo
    while dispatcher.run_once():
        clock.advance(1.0)
    assert [(r.kind, r.status) for r in rows(customers)] == [
        ("detected", "skipped"),
        ("all_clear", "skipped"),
    ]
    assert "superseded" in rows(customers)[0].last_error
    assert "never told" in rows(customers)[1].last_error
    assert smtp_server.wait_for(1, timeout=0.5) == []


def test_all_clear_follows_a_notice_that_was_sent(
    service, dispatcher, customers, smtp_server, clock
):
    case_id = service.handle(make_event("ac-m")).case_id
    dispatcher.run_once()
    service.handle(make_event("ac-m", kind="recovery", at=T0 + timedelta(hours=1)))
    service.resolve(case_id, "agent:yui", "repaired_on_site", "filter cleaned on site")
    dispatcher.run_once()
    messages = smtp_server.wait_for(2)
    subjects = [str(make_header(decode_header(m["Subject"]))) for m in messages]
    assert "エアフィルター" in subjects[0] and "正常に戻りました" in subjects[1]


def test_production_refuses_to_deliver_by_writing_files(tmp_path):
    def settings_for(**notify) -> Settings:
        notify = {"public_base_url": "https://service.example.com", **notify}
        return Settings(
            environment="production",
            data_dir=tmp_path,
            notify=notify,
            api={"secret_key": "a-real-secret-of-forty-characters-long!!"},
        )

    with pytest.raises(ValidationError, match="set KIZUKI_NOTIFY__MODE=apprise"):
        settings_for()  # mode defaults to "log": refused when the settings are read
    unchecked = settings_for(mode="apprise").model_copy(update={"notify": NotifySettings()})
    with pytest.raises(ChannelConfigError, match="set KIZUKI_NOTIFY__MODE=apprise"):
        Dispatcher(sessionmaker(), unchecked)  # and again where delivery starts
    Dispatcher(sessionmaker(), settings_for(mode="apprise"))
    Dispatcher(sessionmaker(), settings_for(mode="log", allow_log_in_production=True))
    assert Dispatcher(sessionmaker(), Settings(data_dir=tmp_path)).settings.notify.mode == "log"
