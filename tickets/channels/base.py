"""The channel protocol: deliver one rendered notification to one contact URL.

``send()`` never raises for a delivery problem; it returns a ``SendResult`` saying
whether the failure is *recoverable* (retry later on the same channel) or permanent
(fall back to the customer's next preferred channel). Construction raises
``ChannelConfigError`` on bad configuration.

Every message carries its outbox idempotency key; channels pass it on where the service
takes it (``Idempotency-Key`` header on JSON/form/XML webhooks and e-mail, the log
channel's file name) so a receiver can drop the duplicate that a crash between send and
mark can cause. Slack, Teams, LINE and SMS plugins take no key: a duplicate is possible
there (see ``tickets.dispatcher``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class ChannelConfigError(ValueError):
    """A channel that cannot be built from its configuration."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One notification as the channel sees it."""

    idempotency_key: str
    subject: str
    short_body: str  # SMS, chat, push
    long_body: str  # e-mail
    locale: str
    kind: str
    case_id: int
    customer_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str = ""
    recoverable: bool = False
    duplicate: bool = False  # the receiver already had this idempotency key

    @classmethod
    def sent(cls, duplicate: bool = False) -> SendResult:
        return cls(ok=True, duplicate=duplicate)

    @classmethod
    def failed(cls, error: str, recoverable: bool) -> SendResult:
        return cls(ok=False, error=error, recoverable=recoverable)


@runtime_checkable
class Channel(Protocol):
    """Delivers messages to URLs of one family (Apprise URLs, ``log://``)."""

    name: str

    def send(self, url: str, message: OutgoingMessage) -> SendResult: ...
