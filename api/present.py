"""Turn case-DB rows into the API's public shapes (shared by JSON routes and pages)."""

from __future__ import annotations

import re
from typing import Any

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
from tickets.channels import private_url
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


ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\+?\d[\d -]{6,}\d|\w+://\S+")
PERSONAL_DETAIL = frozenset({"comment", "error", "to", "url"})


def mask_addresses(text: str) -> str:
    """``text`` with e-mail addresses, phone numbers and URLs replaced by ``[hidden]``."""
    return ADDRESS.sub("[hidden]", text)


def notification_public(row: Notification, personal: bool = True) -> NotificationPublic:
    """The outbox row; without ``personal`` (viewers) no bodies and no addresses."""
    attempts = [DeliveryAttemptPublic.model_validate(a) for a in row.attempts_log]
    if not personal:
        attempts = [a.model_copy(update={"error": mask_addresses(a.error)}) for a in attempts]
    bodies = (row.short_body, row.long_body) if personal else ("", "")
    return NotificationPublic.model_validate(
        {
            **{n: getattr(row, n) for n in NotificationPublic.model_fields if hasattr(row, n)},
            "short_body": redact_feedback(bodies[0], row.feedback_token, row.locale),
            "long_body": redact_feedback(bodies[1], row.feedback_token, row.locale),
            "last_error": row.last_error if personal else mask_addresses(row.last_error),
            "redacted": not personal,
            "delivery_attempts": attempts,
        }
    )


def _event_public(event: object, personal: bool) -> CaseEventPublic:
    public = CaseEventPublic.model_validate(event)
    if personal:
        return public
    kept = {
        key: mask_addresses(value) if isinstance(value, str) else value
        for key, value in public.detail.items()
        if key not in PERSONAL_DETAIL
    }  # notes stay, but an address typed into one does not reach viewers
    return public.model_copy(update={"detail": kept})


def case_detail(
    case: Case,
    feedback: list[Feedback],
    profiles: dict[str, DeviceProfile],
    locale: str = "en",
    personal: bool = True,
) -> CaseDetail:
    """The case in full; ``personal=False`` (viewers) leaves out the customer's personal
    data: notification bodies, feedback comments, addresses in errors."""
    base = case_public(case, profiles, locale).model_dump()
    votes = [FeedbackPublic.model_validate(f) for f in feedback]
    return CaseDetail(
        **base,
        explanation=explanation(case),
        timeline=[_event_public(e, personal) for e in case.events],
        notifications=[notification_public(n, personal) for n in case.notifications],
        feedback=votes if personal else [v.model_copy(update={"comment": ""}) for v in votes],
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


def customer_public(customer: Customer) -> CustomerPublic:
    contacts = [
        ContactPublic(
            id=c.id,
            channel=c.channel,
            url=private_url(c.url),
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
