"""Write customer notifications into the outbox, inside the caller's transaction.

The row carries everything the dispatcher needs (rendered subject, short and long body,
first-choice contact point, a unique idempotency key, a signed feedback token), so a
case change and its notification commit or roll back together.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.profiles import DeviceProfile, metric_title
from tickets import sms
from tickets.feedback import feedback_url, make_token
from tickets.kb import ALL_CLEAR, GENERIC, Kind, render
from tickets.models import Case, ContactPoint, Customer, Notification
from tickets.settings import TicketsConfig

OBSERVED = {
    "en": "{metric} {observed:.4g} {unit} (normally about {expected:.4g} {unit})",
    "ja": "{metric} {observed:.4g} {unit}（通常は約 {expected:.4g} {unit}）",
}


def enqueue(
    session: Session,
    settings: TicketsConfig,
    case: Case,
    kind: Kind,
    profiles: Mapping[str, DeviceProfile],
    now: datetime,
    article: str | None = None,
) -> Notification | None:
    """Add one notification about ``case`` for its customer; None without a customer.
    ``article`` overrides the knowledge-base article (resolution messages)."""
    customer = case.customer
    if customer is None:
        return None
    contact = first_contact(customer)
    row = Notification(
        case_id=case.id,
        customer_id=customer.id,
        kind=kind,
        locale=customer.locale,
        channel=contact.channel if contact else "log",
        contact_point_id=contact.id if contact else None,
        subject="",
        short_body="",
        long_body="",
        idempotency_key=f"kizuki-{case.id}-{kind}-{uuid.uuid4().hex}",
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    session.flush()  # the id goes into the signed feedback token
    row.feedback_token = make_token(settings, row.id, case.id)
    if article is None:
        article = ALL_CLEAR if kind == "all_clear" else (case.kb_article or GENERIC)
    context = _context(settings, case, customer, row, profiles)
    text = render(article, customer.locale, kind, context)
    short = text.short
    if any(c.enabled and c.channel == "sms" for c in customer.contacts):
        bare = render(article, customer.locale, kind, context | {"up_url": "", "down_url": ""})
        short = sms_short(text.short, bare.short)
    row.subject, row.short_body, row.long_body = text.subject[:300], short, text.long
    return row


def sms_short(full: str, bare: str) -> str:
    """A short form that fits ``sms.MAX_SEGMENTS``: with the feedback links if they fit,
    else without them, else cut at a word. (Any channel may fall back to SMS, so the
    short form of a customer with an SMS contact always fits.)"""
    for text in (full, bare):
        if sms.segments(text) <= sms.MAX_SEGMENTS:
            return text
    return sms.fit(bare)


def pull_forward(session: Session, case_id: int, now: datetime) -> int:
    """Make the case's held notices (quiet hours, a retry wait) due now; returns how many.

    Used when a case turns critical: the dispatcher then judges them again at once, and a
    critical case's notices are not held by quiet hours."""
    result = session.execute(
        update(Notification)
        .where(
            Notification.case_id == case_id,
            Notification.status == "pending",
            Notification.next_attempt_at > now,
        )
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def first_contact(customer: Customer, after: int | None = None) -> ContactPoint | None:
    """The customer's most preferred enabled contact point (after preference ``after``)."""
    for contact in customer.contacts:
        if contact.enabled and (after is None or contact.preference > after):
            return contact
    return None


def _context(
    settings: TicketsConfig,
    case: Case,
    customer: Customer,
    row: Notification,
    profiles: Mapping[str, DeviceProfile],
) -> dict[str, Any]:
    profile = profiles.get(case.model)
    title = (
        profile.title.get(customer.locale, profile.title.get("en", case.model)) if profile else ""
    )
    return {
        "case_id": case.id,
        "customer_name": customer.name,
        "device_id": case.device_id,
        "device_title": title or case.model,
        "observed": _observed(case.explanation, customer.locale, profile),
        "eta": _eta(case.explanation, customer.timezone, customer.locale),
        "up_url": feedback_url(settings, row.feedback_token, "up"),
        "down_url": feedback_url(settings, row.feedback_token, "down"),
    }


def _observed(why: Mapping[str, Any], locale: str, profile: DeviceProfile | None) -> str:
    """What was measured, with the metric's name for people (not its id)."""
    try:
        return OBSERVED.get(locale, OBSERVED["en"]).format(
            metric=metric_title(profile, str(why["metric"]), locale),
            observed=why["observed"],
            expected=why["expected"],
            unit=why["unit"],
        )
    except (KeyError, TypeError, ValueError):
        return ""


ETA_POINT = {"en": "around {when}", "ja": "{when}"}
ETA_DAYS = {"en": "between {start} and {end} ({zone})", "ja": "{start}〜{end} 頃({zone})"}
ETA_DAY = {"en": "on {start} ({zone})", "ja": "{start} 頃({zone})"}


def _eta(why: Mapping[str, Any], timezone: str, locale: str) -> str:
    """When the customer may notice: the days the ETA's interval covers (no finer than
    the interval), or the point estimate when detection gave no interval."""
    tz, span = zone(timezone), why.get("eta_range")
    if isinstance(span, list) and len(span) == 2:
        start, end = (datetime.fromtimestamp(float(t), UTC).astimezone(tz) for t in span)
        days = ETA_DAY if start.date() == end.date() else ETA_DAYS
        return days.get(locale, days["en"]).format(
            start=start.strftime("%Y-%m-%d"), end=end.strftime("%Y-%m-%d"), zone=end.strftime("%Z")
        )
    eta = why.get("eta_ts")
    if not isinstance(eta, int | float):
        return ""
    local = datetime.fromtimestamp(eta, UTC).astimezone(tz)
    when = local.strftime("%Y-%m-%d %H:%M %Z")  # the zone named: the reader may travel
    return ETA_POINT.get(locale, ETA_POINT["en"]).format(when=when)


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``, UTC when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
