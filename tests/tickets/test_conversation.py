"""A case's conversation: an agent writes, the dispatcher delivers on the customer's
channel, the customer answers by e-mail (a real SMTP client against our SMTP endpoint)
and by SMS, and both replies land in the same case thread; self-service answers first."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.profiles import load_profiles
from tests.conftest import free_port
from tests.tickets.conftest import FakeClock, make_event
from tests.tickets.test_dispatcher import body_of
from tickets import sms
from tickets.conversation import ConversationError, Inbound, NoMatchingCase, post, thread
from tickets.dispatcher import Dispatcher
from tickets.inbound_imap import ImapError, ImapPoller
from tickets.inbound_mail import MailEndpoint, parse, reply_text
from tickets.inbox import accept
from tickets.mailbox import Mailbox
from tickets.models import Case, CaseEvent, Customer, Notification
from tickets.registry import import_manifest
from tickets.selfservice import answer_text, evaluate
from tickets.service import CaseService

PROFILES = load_profiles()


def mailto(smtp, to: str) -> str:
    return f"mailto://{smtp.host}:{smtp.port}?mode=insecure&from=kizuki@example.com&to={to}"


@pytest.fixture
def desk(session_factory, smtp_server, settings, clock: FakeClock):
    """c-mail: e-mail first, then SMS; c-sms: SMS only (Japanese); each has one case."""
    import_manifest(
        session_factory,
        {
            "customers": [
                {
                    "id": "c-mail",
                    "name": "Alex Smith",
                    "locale": "en",
                    "timezone": "Europe/London",
                    "contacts": [
                        {"url": mailto(smtp_server, "alex@example.com")},
                        {"channel": "sms", "url": "log://sms/+447700900123"},
                    ],
                },
                {
                    "id": "c-sms",
                    "name": "佐藤 花子",
                    "locale": "ja",
                    "timezone": "Asia/Tokyo",
                    "contacts": [{"channel": "sms", "url": "log://sms/+819012345678"}],
                },
            ],
            "devices": [
                {"id": "ac-m", "model": "aircon-x1", "customer_id": "c-mail"},
                {"id": "pu-s", "model": "pump-p3", "customer_id": "c-sms"},
            ],
        },
    )
    service = CaseService(session_factory, PROFILES, settings, clock=clock)
    mail_case = service.handle(make_event("ac-m", at=clock.now)).case_id
    sms_case = service.handle(
        make_event("pu-s", "bearing_wear", model="pump-p3", at=clock.now)
    ).case_id
    assert mail_case and sms_case
    return session_factory, mail_case, sms_case


def write(factory, case_id: int, text: str, clock: FakeClock, author: str = "user:sato") -> int:
    with factory.begin() as session:
        return post(session, session.get_one(Case, case_id), author, text, clock.now, "Sato").id


def test_agent_writes_customer_replies_by_email_then_sms_into_one_thread(
    desk, smtp_server, settings, clock: FakeClock
) -> None:
    factory, case_id, _ = desk
    write(factory, case_id, "Could you check whether the filter is dusty?", clock)
    Dispatcher(factory, settings, clock=clock).run_once()
    ours = [m for m in smtp_server.wait_for(2) if "filter is dusty" in body_of(m)]
    assert len(ours) == 1 and f"[Case #{case_id}]" in str(ours[0]["Subject"])
    assert "Hello Alex Smith" in body_of(ours[0])

    port = free_port()
    endpoint = MailEndpoint(
        lambda m: accept(factory, PROFILES, m, clock, self_service=False),
        "127.0.0.1",
        port,
        64_000,
    )
    endpoint.start()
    try:
        reply = EmailMessage()
        reply["From"], reply["To"] = "Alex Smith <Alex@Example.com>", "service@kizuki.example"
        reply["Subject"] = f"Re: [Case #{case_id}] filter"
        reply.set_content("Yes, it was full of dust.\n\nOn Mon, Kizuki wrote:\n> Could you...")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(reply)
            stranger = EmailMessage()
            stranger["From"], stranger["To"] = "mallory@evil.example", "service@kizuki.example"
            stranger["Subject"] = f"[Case #{case_id}]"
            stranger.set_content("let me in")
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.send_message(stranger)
            assert refused.value.smtp_code == 550
    finally:
        endpoint.stop()
    accept(factory, PROFILES, Inbound("sms", "+44 7700 900123", "Cleaned it now"), clock, False)

    with factory() as session:
        turns = [(m.direction, m.channel, m.body) for m in thread(session, case_id)]
        kinds = [e.kind for e in session.get_one(Case, case_id).events]
    assert turns == [
        ("out", "email", "Could you check whether the filter is dusty?"),
        ("in", "email", "Yes, it was full of dust."),
        ("in", "sms", "Cleaned it now"),
    ]
    assert kinds.count("message_in") == 2 and "message_out" in kinds


def test_a_reply_naming_someone_elses_case_lands_in_the_senders_own(desk, clock) -> None:
    factory, mail_case, sms_case = desk
    got = accept(
        factory, PROFILES, Inbound("sms", "+819012345678", f"about #{mail_case}"), clock, False
    )
    assert got.case_id == sms_case
    with pytest.raises(NoMatchingCase):
        accept(factory, PROFILES, Inbound("sms", "+15550000000", "hello"), clock, False)


def test_sms_messages_must_fit_two_segments(desk, clock) -> None:
    factory, _, sms_case = desk
    with pytest.raises(ConversationError, match="too long for SMS: 3 segments"):
        write(factory, sms_case, "あ" * 130, clock)
    write(factory, sms_case, "技術者が明日伺います。", clock)
    with factory() as session:
        row = session.scalars(select(Notification).where(Notification.kind == "message")).one()
    assert row.channel == "sms" and sms.segments(row.short_body) == 1
    assert row.short_body == f"技術者が明日伺います。（案件 #{sms_case}）"


def test_self_service_answers_then_hands_off_and_stays_quiet(desk, clock) -> None:
    factory, _, sms_case = desk
    first = accept(
        factory,
        PROFILES,
        Inbound("sms", "+819012345678", "ポンプがガタガタうるさくて熱いです"),
        clock,
    )
    assert first.reply.outcome == "answered" and first.reply.article == "pump-bearing-wear"
    second = accept(factory, PROFILES, Inbound("sms", "+819012345678", "担当者と話したい"), clock)
    assert second.reply.outcome == "handed_off"
    third = accept(factory, PROFILES, Inbound("sms", "+819012345678", "まだですか"), clock)
    assert third.reply.outcome == "quiet"
    with factory() as session:
        turns = [(m.direction, m.author) for m in thread(session, sms_case)]
        handoffs = session.scalars(select(CaseEvent).where(CaseEvent.kind == "handoff")).all()
        bot_sms = session.scalars(
            select(Notification).where(Notification.kind == "message").order_by(Notification.id)
        ).all()
    assert turns == [
        ("in", "customer:c-sms"),
        ("out", "bot"),
        ("in", "customer:c-sms"),
        ("out", "bot"),
        ("in", "customer:c-sms"),
    ]
    assert len(handoffs) == 1 and handoffs[0].detail["reason"] == "asked for a person"
    assert "ベアリング" in bot_sms[0].short_body and "担当者" in bot_sms[0].short_body
    assert all(sms.segments(n.short_body) <= 2 for n in bot_sms)


def test_sms_answers_keep_the_action_within_two_segments() -> None:
    for article in ("ac-refrigerant-leak", "pump-motor-overload", "wh-thermostat-fault"):
        for locale in ("en", "ja"):
            text = answer_text(article, locale, 123456, "sms")
            assert sms.segments(text + " (Case #123456)") <= 2, (article, locale, text)


def test_segment_counts() -> None:
    assert sms.segments("a" * 160) == 1 and sms.segments("a" * 161) == 2
    assert sms.segments("a" * 306) == 2 and sms.segments("a" * 307) == 3
    assert sms.segments("€" * 80) == 1 and sms.segments("€" * 81) == 2  # extension: 2 each
    assert sms.segments("あ" * 70) == 1 and sms.segments("あ" * 71) == 2
    cut = sms.fit("word " * 100, tail=" (Case #1)")
    assert sms.segments(cut) == 2 and cut.endswith("... (Case #1)")


def test_email_parsing_keeps_only_the_new_text() -> None:
    raw = (
        b"From: =?utf-8?b?5L2Q6Jek?= <hanako@example.jp>\r\nSubject: Re: [Case #7] x\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + "ありがとうございます。\n\n2026年12月5日 Kizuki さんは書きました:\n> 前文".encode()
    )
    got = parse(raw)
    assert (got.sender, got.subject, got.text) == (
        "hanako@example.jp",
        "Re: [Case #7] x",
        "ありがとうございます。",
    )
    assert reply_text("> only quoted") == ""


def test_answer_accuracy_on_the_labelled_questions() -> None:
    """The measured figures `kizuki evaluate-answers` prints; a floor, not a target."""
    result = evaluate(PROFILES)
    assert result.total == 48
    assert result.accuracy >= 0.85, result.misses
    assert all(correct / total >= 0.8 for correct, total in result.by_locale.values())
    assert 0.15 <= result.handoff_rate <= 0.35


def test_the_customers_own_case_settles_a_near_tie() -> None:
    from tickets.selfservice import decide

    question = "風が弱いです"  # weak airflow: a clogged filter or a refrigerant leak?
    assert decide(question, "ja", "aircon-x1", PROFILES).outcome == "handed_off"
    with_case = decide(question, "ja", "aircon-x1", PROFILES, case_article="ac-filter-clog")
    assert (with_case.outcome, with_case.article) == ("answered", "ac-filter-clog")


def test_notices_to_sms_customers_fit_two_segments(desk) -> None:
    factory, _, sms_case = desk
    with factory() as session:
        notice = session.scalars(
            select(Notification).where(
                Notification.case_id == sms_case, Notification.kind == "detected"
            )
        ).one()
    assert sms.segments(notice.short_body) <= 2
    assert notice.short_body.startswith("ポンプのベアリングが摩耗しています")
    assert f"案件 #{sms_case}" in notice.short_body or notice.short_body.endswith("…")


def test_quiet_hours_hold_messages_but_not_answers_to_a_customer_who_just_wrote(
    desk, settings, clock: FakeClock
) -> None:
    """Quiet hours keep unsolicited messages for the morning; a customer who wrote a
    moment ago is awake and waiting, so the answers (self-service's and the agent's)
    go at once, for an hour after their message."""
    factory, _, sms_case = desk
    tokyo_hour = clock.now.astimezone(ZoneInfo("Asia/Tokyo")).hour
    with factory.begin() as session:
        customer = session.get_one(Customer, "c-sms")
        customer.quiet_start_hour, customer.quiet_end_hour = tokyo_hour, (tokyo_hour + 4) % 24
    dispatcher = Dispatcher(factory, settings, clock=clock)

    def status_of_latest_message() -> str:
        dispatcher.run_once()
        with factory() as session:
            query = select(Notification).where(Notification.kind == "message")
            return session.scalars(query.order_by(Notification.id.desc())).first().status

    accept(factory, PROFILES, Inbound("sms", "+819012345678", "ポンプがガタガタうるさい"), clock)
    assert status_of_latest_message() == "sent"  # self-service answers at once
    clock.advance(30 * 60)
    write(factory, sms_case, "技術者が明日伺います。", clock)
    assert status_of_latest_message() == "sent"  # the agent too, within the hour
    clock.advance(2 * 3600)
    write(factory, sms_case, "ご都合はいかがですか。", clock)
    assert status_of_latest_message() == "pending"  # hours later: held for the morning


@pytest.fixture
def imap_server(tmp_path) -> Iterator[tuple[int, str, str]]:
    """A real IMAP server (pymap, in-memory mailbox) on a free loopback port."""
    port, user, password = free_port(), "replies", "mailbox-secret"
    log = open(tmp_path / "pymap.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("pymap")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-tls",
            "dict",
            "--demo-user",
            user,
            "--demo-password",
            password,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "pymap.log").read_text()
                assert time.monotonic() < deadline, "pymap did not listen in 30 s"
                time.sleep(0.1)
        yield port, user, password
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def test_replies_in_a_polled_mailbox_land_in_their_case_once(
    desk, imap_server, clock: FakeClock
) -> None:
    factory, case_id, _ = desk
    port, user, password = imap_server
    reply, stranger = EmailMessage(), EmailMessage()
    reply["From"], reply["Subject"] = "Alex Smith <alex@example.com>", f"Re: [Case #{case_id}] x"
    reply.set_content("The filter is clean now.\n\nOn Mon, Kizuki wrote:\n> Could you...")
    stranger["From"], stranger["Subject"] = "mallory@evil.example", f"[Case #{case_id}]"
    stranger.set_content("let me in")
    customer = imaplib.IMAP4("127.0.0.1", port)  # the provider's mailbox receives both
    customer.login(user, password)
    for message in (reply, stranger):
        customer.append("INBOX", None, None, message.as_bytes())

    poller = ImapPoller(
        lambda m: accept(factory, PROFILES, m, clock, self_service=False),
        Mailbox.parse(f"imap://{user}@127.0.0.1:{port}/INBOX"),
        password,
        64_000,
    )
    assert poller.poll_once() == 1  # the stranger is refused
    assert poller.poll_once() == 0  # both were marked seen: nothing is filed twice
    customer.select("INBOX")
    assert customer.uid("SEARCH", "UNSEEN")[1] == [b""]
    customer.logout()
    with factory() as session:
        turns = [(m.direction, m.channel, m.body) for m in thread(session, case_id)]
    assert turns == [("in", "email", "The filter is clean now.")]


def test_a_mailbox_with_a_wrong_password_is_an_imap_error(imap_server) -> None:
    port, user, _ = imap_server
    box = Mailbox.parse(f"imap://{user}@127.0.0.1:{port}")
    assert box.folder == "INBOX" and Mailbox.parse("imaps://a%40b.jp@mail.example").port == 993
    with pytest.raises(ImapError):
        ImapPoller(lambda m: None, box, "wrong", 64_000).poll_once()  # type: ignore[arg-type,return-value]
