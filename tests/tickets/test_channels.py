"""Channel contract: send() reports success, or a failure that says if it is recoverable.

A table of (URL, what the receiver does) -> expected outcome, played against real
loopback receivers (HTTP and SMTP) and a closed port.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port
from tests.tickets.conftest import WebhookReceiver
from tickets.channels import (
    AppriseChannel,
    LogChannel,
    OutgoingMessage,
    SendResult,
    TargetPolicy,
    channel_key,
)

LOOPBACK = TargetPolicy(("127.0.0.1",))  # the receivers here are ours, on loopback

MESSAGE = OutgoingMessage(
    idempotency_key="kizuki-1-detected-abc",
    subject="[Case #1] Filter",
    short_body="short",
    long_body="long\nform",
    locale="en",
    kind="detected",
    case_id=1,
    customer_id="c-1",
    channel="webhook",
)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, SendResult.sent()),
        (400, "permanent"),
        (404, "permanent"),
        (408, "recoverable"),
        (429, "recoverable"),
        (500, "recoverable"),
        (503, "recoverable"),
    ],
)
def test_webhook_status_table(webhook: WebhookReceiver, status, expected):
    webhook.statuses = [status]
    result = AppriseChannel(LOOPBACK).send(webhook.url, MESSAGE)
    if isinstance(expected, SendResult):
        assert result == expected
        [(headers, body)] = webhook.requests
        assert headers["Idempotency-Key"] == MESSAGE.idempotency_key
        assert headers["X-Kizuki-Case"] == "1" and body["message"] == "short"
        return
    assert not result.ok and result.recoverable is (expected == "recoverable")
    assert str(status) in result.error


@pytest.mark.parametrize(
    ("url", "recoverable"),
    [
        ("nosuchservice://x/y", False),  # Apprise does not know the scheme
        ("mailto://", False),  # known scheme, unusable URL
        ("json://127.0.0.1:{closed}/hook", True),  # connection refused: try again later
        ("mailto://127.0.0.1:{closed}?mode=insecure&from=k@example.com&to=a@example.com", True),
    ],
)
def test_unusable_or_unreachable_targets(url, recoverable):
    result = AppriseChannel(LOOPBACK).send(url.format(closed=free_port()), MESSAGE)
    assert result.ok is False and result.recoverable is recoverable and result.error


def test_email_gets_the_long_form(smtp_server):
    url = (
        f"mailto://{smtp_server.host}:{smtp_server.port}"
        "?mode=insecure&from=k@example.com&to=a@example.com"
    )
    assert AppriseChannel(LOOPBACK).send(url, MESSAGE).ok
    [message] = smtp_server.wait_for(1)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert part.get_payload(decode=True).decode().splitlines() == ["long", "form"]
    assert message["Idempotency-Key"] == MESSAGE.idempotency_key


def test_log_channel_writes_once_per_key(tmp_path, caplog):
    channel = LogChannel(tmp_path / "outbox")
    with caplog.at_level("INFO", logger="kizuki.notifications"):
        assert channel.send("log://", MESSAGE) == SendResult.sent()
    assert channel.send("log://", MESSAGE) == SendResult.sent(duplicate=True)
    [path] = (tmp_path / "outbox").glob("*.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert path.stem == MESSAGE.idempotency_key and record["long_body"] == "long\nform"
    assert "[Case #1] Filter" in caplog.text and path.name in caplog.text


def test_channel_key():
    assert channel_key("log://") == "log" and channel_key("mailto://x") == "apprise"


@pytest.mark.parametrize(
    ("url", "channel"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#support", "slack"),
        ("line://abcdefghijklmnopqrstuvwxyz0123456789/U1234567890abcdef1234567890abcdef", "line"),
        ("twilio://AC0123456789abcdef0123456789abcdef:token@15551234567/15557654321", "sms"),
        ("mailto://user:pass@smtp.example.com?to=a@example.com", "email"),
        ("json://hooks.example.com/kizuki", "webhook"),
    ],
)
def test_manifest_urls_for_other_services_are_valid_apprise_urls(url, channel):
    """The services we name in the docs parse in Apprise (no message is sent: no network)."""
    import apprise

    from tickets.registry import channel_of

    assert apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None
    assert channel_of(url) == channel
