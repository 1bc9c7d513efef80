"""``kizuki notify test``: send one test notice to a contact, the way the dispatcher would."""

from __future__ import annotations

import uuid

from tickets.channels import AppriseChannel, LogChannel, channel_key
from tickets.channels.base import OutgoingMessage, SendResult
from tickets.channels.smtp_relay import relay_target
from tickets.settings import TicketsConfig

SUBJECT = "Kizuki test notice"
BODY = (
    "This is a test notice from Kizuki. If you can read it, notifications to this contact "
    "are delivered.\n\nKizuki からのテスト通知です。"
)


def contact_url(contact: str) -> str:
    """A contact as the dispatcher sees it: a bare address means ``mailto://address``."""
    if "://" in contact or contact.startswith("mailto:"):
        return contact
    return f"mailto://{contact}" if "@" in contact else contact


def route_of(config: TicketsConfig, url: str) -> str:
    """How ``url`` would be delivered, in words (for the command's output)."""
    smtp = config.notify.smtp
    if channel_key(url) == "log":
        return f"log channel ({config.outbox_dir})"
    if relay_target(url, smtp) is not None:
        return f"mail relay {smtp.host}:{smtp.port} ({smtp.security})"
    return "Apprise, as the URL says"


def send_test(config: TicketsConfig, url: str) -> SendResult:
    """Send one test notice to ``url`` now (no outbox row, no retry)."""
    key = f"test-{uuid.uuid4().hex}"
    message = OutgoingMessage(key, SUBJECT, BODY, BODY, "en", "test", 0, "test", "test")
    if channel_key(url) == "log":
        return LogChannel(config.outbox_dir).send(url, message)
    notify = config.notify
    channel = AppriseChannel(
        notify.policy(),
        timeout_s=notify.timeout_s,
        smtp=notify.smtp,
        providers=notify.providers,
    )
    return channel.send(url, message)
