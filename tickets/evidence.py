"""Living cases: an open case follows the newest evidence of its anomaly.

``refresh`` puts an "update" event's numbers on the case (explanation, ETA, score) and
escalates it when the severity rises (crossing the user-visible limit, an ETA within a
day): the timeline says so and why. Severity only rises while the case is open. Whether
the customer hears of it is ``tell_customer``: only for severities in
``cases.update_customer_on`` and at most once per ``cases.update_min_interval_s``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.events import AnomalyEvent
from tickets import cases as rules
from tickets import lifecycle
from tickets.anomalies import latest_explanation
from tickets.models import Case, Notification
from tickets.settings import TicketsConfig


def refresh(
    session: Session,
    case: Case,
    event: AnomalyEvent,
    settings: TicketsConfig,
    now: datetime,
    actor: str,
) -> bool | None:
    """Apply ``event`` (kind "update"); True when the case escalated, None when the
    event is no newer than the evidence the case holds (it changes nothing)."""
    held = case.explanation.get("at")
    newest = held if isinstance(held, int | float) else case.last_anomaly_at.timestamp()
    if event.ts <= newest:
        return None
    was_breached = bool(case.explanation.get("breached"))
    breached = bool(event.extra.get("breached"))
    case.explanation = {
        **latest_explanation(case.explanation, event),
        "at": event.ts,
        "breached": breached,
    }
    case.score, case.updated_at = float(event.score), now
    if breached and not was_breached:
        lifecycle.log(
            session,
            case,
            actor,
            "limit_crossed",
            now,
            at=event.ts,
            why=event.why.text,
            observed=event.why.observed,
            limit=event.why.limit,
        )
    before = case.severity
    case.severity = rules.higher(case.severity, rules.severity_of(event))
    if case.severity == before:
        return False
    case.priority = min(
        case.priority, rules.priority(case.severity, case.customer, event.why.eta_ts, now)
    )
    case.sla_due_at = min(case.sla_due_at, rules.sla_due(settings, case.severity, now))
    reason = "past the limit" if breached else "limit expected within a day"
    lifecycle.log(
        session,
        case,
        actor,
        "escalated",
        now,
        at=event.ts,
        severity_from=before,
        severity_to=case.severity,
        reason=reason,
        why=event.why.text,
    )
    return True


def last_notice_at(session: Session, case_id: int) -> datetime | None:
    """When the case's newest customer notice was written (None: never)."""
    return session.scalar(
        select(func.max(Notification.created_at)).where(Notification.case_id == case_id)
    )


def tell_customer(session: Session, case: Case, settings: TicketsConfig, now: datetime) -> bool:
    """An escalation is worth a customer update: the policy covers the new severity and
    the last notice is not too recent."""
    if case.severity not in settings.cases.update_customer_on:
        return False
    last = last_notice_at(session, case.id)
    return last is None or (now - last).total_seconds() >= settings.cases.update_min_interval_s
