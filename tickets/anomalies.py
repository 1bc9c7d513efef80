"""What an anomaly event does to case fields: the new case's values, or the open case's
update (severity only rises, the latest explanation, with its ETA interval, next to the
first one)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from core.events import AnomalyEvent
from core.profiles import DeviceProfile
from tickets import cases as rules
from tickets.models import Case, Device
from tickets.settings import TicketsConfig


def new_case_values(
    event: AnomalyEvent,
    device: Device,
    profiles: Mapping[str, DeviceProfile],
    settings: TicketsConfig,
    now: datetime,
    quiet: bool,
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    """Column values for the case ``event`` opens on ``device``."""
    profile = profiles.get(event.model)
    mode = profile.failure_modes.get(event.failure_mode) if profile else None
    customer = device.customer
    locale = customer.locale if customer else "en"
    title = mode.title.get(locale, mode.title.get("en", "")) if mode else ""
    return {
        "device_id": device.id,
        "customer_id": device.customer_id,
        "model": event.model,
        "product_line": device.product_line or (profile.product_line if profile else ""),
        "failure_mode": event.failure_mode,
        "kb_article": mode.kb_article if mode else "",
        "status": "open",
        "severity": rules.severity_of(event),
        "priority": rules.priority(rules.severity_of(event), customer, event.why.eta_ts, now),
        "quiet": quiet,
        "sla_due_at": rules.sla_due(settings, rules.severity_of(event), now),
        "title": f"{title or event.failure_mode} ({device.id})"[:300],
        "score": float(event.score),
        "explanation": explanation_of(event),
        "telemetry": snapshot,
        "anomaly_count": 1,
        "started_at": rules.as_datetime(event.started_at),
        "last_anomaly_at": rules.as_datetime(event.ts),
        "opened_at": now,
        "updated_at": now,
    }


def apply_repeat(case: Case, event: AnomalyEvent, settings: TicketsConfig, now: datetime) -> bool:
    """Update the open ``case`` with another anomaly; True when its severity rose."""
    before = case.severity
    case.severity = rules.higher(case.severity, rules.severity_of(event))
    case.anomaly_count += 1
    case.score = max(case.score, float(event.score))
    case.last_anomaly_at = rules.as_datetime(event.ts)
    case.healthy_since = None
    case.explanation = latest_explanation(case.explanation, event)
    case.updated_at = now
    raised = case.severity != before
    if raised:
        urgency = rules.priority(case.severity, case.customer, event.why.eta_ts, now)
        case.priority = min(case.priority, urgency)
        case.sla_due_at = min(case.sla_due_at, rules.sla_due(settings, case.severity, now))
    return raised


def latest_explanation(current: Mapping[str, Any], event: AnomalyEvent) -> dict[str, Any]:
    """The event's explanation, with the case's first one kept under ``"first"``: the
    telemetry snapshot is from the first anomaly, so an agent sees how it started and
    where it is now."""
    first = current.get("first") or {k: v for k, v in current.items() if k != "first"}
    return {**explanation_of(event), "first": first}


def explanation_of(event: AnomalyEvent) -> dict[str, Any]:
    """The event's explanation as the case stores it: the detector's numbers and the
    ETA's interval (``eta_range``: [earliest, latest] epoch seconds, or None when
    detection gives no basis for one)."""
    why: dict[str, Any] = rules.jsonable(asdict(event.why))
    return {**why, "eta_range": eta_range(event.extra.get("eta_range"))}


def eta_range(value: Any) -> list[float] | None:
    """``[earliest, latest]`` from an event's ``extra["eta_range"]``, or None."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    try:
        earliest, latest = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(earliest) and math.isfinite(latest) and earliest <= latest):
        return None
    return [earliest, latest]
