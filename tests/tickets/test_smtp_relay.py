"""E-mail contacts in the documented form (``mailto://c-0001@example.com``) delivered
through the configured relay (``notify.smtp``): a real aiosmtpd server, plain, with a
login, and with STARTTLS on a certificate made by the test."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from kizuki.config import Settings
from tests.certs import make_certs
from tests.conftest import SmtpSink, _Handler, free_port
from tests.tickets.conftest import make_event
from tests.tickets.test_dispatcher import body_of
from tickets.channels.smtp_relay import recipients, relay_target
from tickets.dispatcher import Dispatcher
from tickets.registry import import_manifest
from tickets.service import CaseService
from tickets.settings import SmtpSettings, TicketsConfig

KIZUKI = [sys.executable, "-c", "from kizuki.cli import main; main()"]


def config_for(tmp_path: Path, **smtp: object) -> TicketsConfig:
    root = Settings(
        data_dir=tmp_path / "data",
        notify={"mode": "apprise", "public_base_url": "https://kizuki.example", "smtp": smtp},
    )
    return TicketsConfig.of(root)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mailto://c-0001@example.com", ["c-0001@example.com"]),
        ("mailto:c-0001@example.com", ["c-0001@example.com"]),
        ("mailtos://relay.example?to=a@x.jp,b@y.jp", ["a@x.jp", "b@y.jp"]),
        ("slack://T/B/C", []),
    ],
)
def test_recipients_of_a_contact(url: str, expected: list[str]) -> None:
    assert recipients(url) == expected


def test_contacts_naming_their_own_server_are_left_as_written() -> None:
    relay = SmtpSettings(host="relay.example")
    assert relay_target("mailto://me:secret@gmail.com", relay) is None
    assert relay_target("mailto://relay2:25?mode=insecure&to=a@b.c", relay) is None
    assert relay_target("mailto://a@b.c", SmtpSettings()) is None  # no relay configured
    assert relay_target("mailto://a@b.c", relay)["targets"] == ["a@b.c"]  # type: ignore[index]


def test_a_case_notice_reaches_the_customer_through_the_relay(
    session_factory, profiles, clock, smtp_server: SmtpSink, tmp_path: Path
) -> None:
    import_manifest(
        session_factory,
        {
            "customers": [
                {
                    "id": "c-0001",
                    "name": "Alex",
                    "locale": "en",
                    "contacts": [{"url": "mailto://c-0001@example.com"}],
                }
            ],
            "devices": [{"id": "ac-r", "model": "aircon-x1", "customer_id": "c-0001"}],
        },
    )
    config = config_for(
        tmp_path,
        host=smtp_server.host,
        port=smtp_server.port,
        security="none",
        from_addr="service@kizuki.example",
    )
    CaseService(session_factory, profiles, config, clock=clock).handle(make_event("ac-r"))
    assert Dispatcher(session_factory, config, clock=clock).run_once() == 1
    [message] = smtp_server.wait_for(1)
    assert message["X-Envelope-To"] == "c-0001@example.com"
    assert "service@kizuki.example" in message["From"]
    assert "/feedback/" in body_of(message)  # the long form, with its feedback links


class _Login:
    def __init__(self) -> None:
        self.logins: list[bytes] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        ok = auth_data.login == b"kizuki" and auth_data.password == b"relay-pass"
        if ok:
            self.logins.append(auth_data.login)
        return AuthResult(success=ok)


@pytest.fixture
def login_relay() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())
    sink.login = _Login()  # type: ignore[attr-defined]
    controller = Controller(
        _Handler(sink),
        hostname=sink.host,
        port=sink.port,
        authenticator=sink.login,  # type: ignore[attr-defined]
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def test_notify_test_logs_in_to_the_relay(login_relay: SmtpSink, tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "KIZUKI_DATA_DIR": str(tmp_path),
        "KIZUKI_NOTIFY__SMTP__HOST": login_relay.host,
        "KIZUKI_NOTIFY__SMTP__PORT": str(login_relay.port),
        "KIZUKI_NOTIFY__SMTP__SECURITY": "none",
        "KIZUKI_NOTIFY__SMTP__USERNAME": "kizuki",
    }
    right = subprocess.run(
        [*KIZUKI, "notify", "test", "mailto://c-0009@example.com"],
        text=True,
        capture_output=True,
        timeout=60,
        env={**env, "KIZUKI_NOTIFY__SMTP__PASSWORD": "relay-pass"},
    )
    assert right.returncode == 0, right.stderr
    assert f"mail relay {login_relay.host}:{login_relay.port}" in right.stdout
    [message] = login_relay.wait_for(1)
    assert message["X-Envelope-To"] == "c-0009@example.com"
    assert login_relay.login.logins == [b"kizuki"]  # type: ignore[attr-defined]


def _server_tls(tmp_path: Path) -> ssl.SSLContext:
    certs = make_certs(tmp_path / "certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    return context


def test_starttls_relay(tmp_path: Path) -> None:
    from tickets.channels.trial import send_test

    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(
        _Handler(sink),
        hostname=sink.host,
        port=sink.port,
        tls_context=_server_tls(tmp_path),
        require_starttls=True,
    )
    controller.start()
    try:
        strict = config_for(tmp_path, host=sink.host, port=sink.port, security="starttls")
        refused = send_test(strict, "mailto://c-0001@example.com")
        assert not refused.ok  # the relay's certificate is from a CA the system does not trust
        lax = config_for(
            tmp_path, host=sink.host, port=sink.port, security="starttls", verify_certificate=False
        )
        assert send_test(lax, "mailto://c-0001@example.com").ok
        [message] = sink.wait_for(1)
        assert message["X-Envelope-To"] == "c-0001@example.com"
    finally:
        controller.stop()
