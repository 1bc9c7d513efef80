"""Delivery policy for one outbox row: opt-out, quiet hours, target channel (what happens
after a failed send is ``tickets.retry``).

Pure functions of the row and the clock, so the dispatcher stays a small loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from tickets.channels import OutgoingMessage, channel_key
from tickets.models import ContactPoint, Customer, Notification
from tickets.outbox import first_contact, zone
from tickets.settings import TicketsConfig

URGENT_KINDS = frozenset({"detected", "update"})
REPLY_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send: the channel implementation key, the URL and the contact point."""

    key: str  # "log" | "apprise"
    url: str
    channel: str
    contact: ContactPoint | None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["send", "skip", "defer", "fail"]
    reason: str = ""
    target: Target | None = None
    until: datetime | None = None


def quiet_until(customer: Customer, now: datetime) -> datetime | None:
    """End of the customer's quiet hours (UTC) if ``now`` falls inside them, else None.

    Quiet hours are whole local hours ``[start, end)`` and may wrap midnight (22 -> 7).
    """
    start, end = customer.quiet_start_hour, customer.quiet_end_hour
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone(customer.timezone))
    inside = start <= local.hour < end if start < end else (local.hour >= start or local.hour < end)
    if not inside:
        return None
    until = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until.astimezone(UTC)


def decide(row: Notification, settings: TicketsConfig, now: datetime) -> Decision:
    """What to do with a claimed row right now."""
    customer = row.customer
    if customer.opted_out:
        return Decision("skip", "customer opted out of notifications")
    held = not (is_urgent(row) or answers_the_customer(row, now))
    until = quiet_until(customer, now) if held else None
    if until is not None:
        return Decision("defer", f"quiet hours until {until.isoformat()}", until=until)
    target = target_for(row, settings)
    if target is None:
        return Decision("fail", "no enabled contact point left")
    return Decision("send", target=target)


def is_urgent(row: Notification) -> bool:
    """A notice about a case that is critical *now* ignores quiet hours: its "detected"
    and its "update" notices alike (a low case that became critical overnight)."""
    return row.kind in URGENT_KINDS and row.case.severity == "critical"


def answers_the_customer(row: Notification, now: datetime) -> bool:
    """A message (agent's or self-service's) in a conversation the customer wrote in
    within :data:`REPLY_WINDOW` answers someone awake and waiting, not an unsolicited
    notice: quiet hours do not hold it."""
    if row.kind != "message":
        return False
    asked = [m.at for m in row.case.messages if m.direction == "in"]
    return bool(asked) and now - max(asked) <= REPLY_WINDOW


def target_for(row: Notification, settings: TicketsConfig) -> Target | None:
    """The row's current contact point (or the log channel in log mode)."""
    if settings.notify.mode == "log":
        return Target("log", "log://", "log", row.contact_point)
    contact = row.contact_point
    if contact is None or not contact.enabled:
        after = contact.preference if contact else None
        contact = first_contact(row.customer, after=after) or first_contact(row.customer)
    if contact is None:
        return None
    return Target(channel_key(contact.url), contact.url, contact.channel, contact)


def message_of(row: Notification, channel: str) -> OutgoingMessage:
    return OutgoingMessage(
        idempotency_key=row.idempotency_key,
        subject=row.subject,
        short_body=row.short_body,
        long_body=row.long_body,
        locale=row.locale,
        kind=row.kind,
        case_id=row.case_id,
        customer_id=row.customer_id,
        channel=channel,
    )
