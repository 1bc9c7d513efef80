"""Turn case-DB rows into the API's public shapes (shared by JSON routes and pages)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from api.i18n import localised
from api.schemas import (
    AgentBrief,
    AnomalyPublic,
    CaseDetail,
    CaseEventPublic,
    CasePublic,
    ContactPublic,
    CustomerPublic,
    DeliveryAttemptPublic,
    ExplanationPublic,
    FeedbackPublic,
    NotificationPublic,
)
from core.profiles import DeviceProfile
from tickets.models import Case, Customer, Feedback, Notification


def mode_title(profiles: dict[str, DeviceProfile], model: str, mode: str, locale: str) -> str:
    """The failure mode's title in ``locale``, or its id if the profile does not know it."""
    profile = profiles.get(model)
    spec = profile.failure_modes.get(mode) if profile else None
    return localised(spec.title, locale) if spec else mode


def explanation(case: Case) -> ExplanationPublic:
    known = ExplanationPublic.model_fields
    data: dict[str, Any] = {k: v for k, v in (case.explanation or {}).items() if k in known}
    try:
        return ExplanationPublic.model_validate(data)
    except ValueError:
        return ExplanationPublic()


def case_public(case: Case, profiles: dict[str, DeviceProfile], locale: str = "en") -> CasePublic:
    assignee = AgentBrief(id=case.assignee.id, name=case.assignee.name) if case.assignee else None
    return CasePublic.model_validate(
        {
            **{
                name: getattr(case, name) for name in CasePublic.model_fields if hasattr(case, name)
            },
            "assignee": assignee,
            "failure_mode_title": mode_title(profiles, case.model, case.failure_mode, locale),
        }
    )


FEEDBACK_LINK = re.compile(r"\S*/feedback/\S+")
REDACTED_LINK = {"en": "[feedback link]", "ja": "[評価リンク]"}  # in the message's language


def redact_feedback(text: str, token: str, locale: str = "en") -> str:
    """``text`` without the customer's signed feedback links (and the bare token): staff
    read what the customer got, but must not be able to vote in the customer's name."""
    placeholder = REDACTED_LINK.get(locale, REDACTED_LINK["en"])
    text = FEEDBACK_LINK.sub(placeholder, text)
    return text.replace(token, placeholder) if token else text


def notification_public(row: Notification) -> NotificationPublic:
    attempts = [DeliveryAttemptPublic.model_validate(a) for a in row.attempts_log]
    return NotificationPublic.model_validate(
        {
            **{n: getattr(row, n) for n in NotificationPublic.model_fields if hasattr(row, n)},
            "short_body": redact_feedback(row.short_body, row.feedback_token, row.locale),
            "long_body": redact_feedback(row.long_body, row.feedback_token, row.locale),
            "delivery_attempts": attempts,
        }
    )


def case_detail(
    case: Case, feedback: list[Feedback], profiles: dict[str, DeviceProfile], locale: str = "en"
) -> CaseDetail:
    base = case_public(case, profiles, locale).model_dump()
    return CaseDetail(
        **base,
        explanation=explanation(case),
        timeline=[CaseEventPublic.model_validate(e) for e in case.events],
        notifications=[notification_public(n) for n in case.notifications],
        feedback=[FeedbackPublic.model_validate(f) for f in feedback],
    )


def anomaly_public(case: Case) -> AnomalyPublic:
    return AnomalyPublic(
        case_id=case.id,
        device_id=case.device_id,
        model=case.model,
        failure_mode=case.failure_mode,
        severity=case.severity,  # type: ignore[arg-type]
        score=case.score,
        started_at=case.started_at,
        last_anomaly_at=case.last_anomaly_at,
        anomaly_count=case.anomaly_count,
        explanation=explanation(case),
    )


def strip_credentials(url: str) -> str:
    """An Apprise URL without user:password@ (tokens in the path are kept for agents)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    if "@" in parts.netloc and parts.scheme == "mailto":
        host = parts.netloc  # mailto://user@example.com is an address, not a credential
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def customer_public(customer: Customer) -> CustomerPublic:
    contacts = [
        ContactPublic(
            id=c.id,
            channel=c.channel,
            url=strip_credentials(c.url),
            preference=c.preference,
            enabled=c.enabled,
        )
        for c in customer.contacts
    ]
    return CustomerPublic(
        id=customer.id,
        name=customer.name,
        locale=customer.locale,
        timezone=customer.timezone,
        tier=customer.tier,
        opted_out=customer.opted_out,
        contacts=contacts,
    )
