"""Device health and fleet figures, shared by the devices API and the fleet page.

Health of one device: ``degraded`` while a case is open on it; else ``unknown`` if it never
sent a reading, ``silent`` if its newest reading is older than the staleness threshold,
``healthy`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.context import AppContext
from api.schemas import DevicePublic, ReadingPublic
from core.cases import OPEN_STATUSES
from core.readings import Reading
from tickets.models import Case, Device

Health = Literal["healthy", "degraded", "silent", "unknown"]
HEALTHS: tuple[Health, ...] = ("healthy", "degraded", "silent", "unknown")
LatestOf = Callable[[str], Reading | None]  # device id -> its newest reading


def health_of(open_cases: int, latest: Reading | None, now: float, stale_after_s: float) -> Health:
    if open_cases:
        return "degraded"
    if latest is None:
        return "unknown"
    return "silent" if now - latest.ts > stale_after_s else "healthy"


def device_public(
    device: Device, open_cases: int, latest: Reading | None, now: float, stale_after_s: float
) -> DevicePublic:
    reading = (
        ReadingPublic(device_id=latest.device_id, ts=latest.ts, metrics=dict(latest.metrics))
        if latest
        else None
    )
    return DevicePublic(
        id=device.id,
        model=device.model,
        product_line=device.product_line,
        customer_id=device.customer_id,
        health=health_of(open_cases, latest, now, stale_after_s),
        open_cases=open_cases,
        latest=reading,
    )


@dataclass
class ModelRow:
    """One product model's line on the fleet page."""

    model: str
    devices: int
    health: dict[str, int]  # devices per health state, every state present
    open_cases: int
    lead_time_days: float | None  # median time from first detection to predicted crossing


@dataclass
class DevicePage:
    devices: list[DevicePublic]
    total: int
    page: int
    pages: int


def _open_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Case.device_id, func.count(Case.id))
        .where(Case.status.in_(OPEN_STATUSES))
        .group_by(Case.device_id)
    )
    return {device_id: int(n) for device_id, n in rows}


def device_page(
    session: Session,
    latest: LatestOf,
    clock: tuple[float, float],
    model: str | None,
    page: int = 1,
    per_page: int = 50,
) -> DevicePage:
    """One page of devices, those with the most open cases first, then by id; the store is
    asked only about the devices on this page. ``clock`` is (now, stale_after_s)."""
    opened = (
        select(Case.device_id, func.count(Case.id).label("n"))
        .where(Case.status.in_(OPEN_STATUSES))
        .group_by(Case.device_id)
        .subquery()
    )
    n_open = func.coalesce(opened.c.n, 0)
    query = select(Device, n_open).outerjoin(opened, opened.c.device_id == Device.id)
    if model:
        query = query.where(Device.model == model)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = session.execute(
        query.order_by(n_open.desc(), Device.id).limit(per_page).offset((page - 1) * per_page)
    )
    data = [device_public(d, int(n), latest(d.id), *clock) for d, n in rows]
    return DevicePage(data, total, page, pages)


def _lead_days(explanation: dict[str, object] | None, detected: datetime) -> float | None:
    eta = (explanation or {}).get("eta_ts")
    if not isinstance(eta, int | float):
        return None
    # both ends in the engine's own time, so a replayed (simulated) fleet reads right
    lead = (eta - detected.timestamp()) / 86400
    return lead if lead >= 0 else None


def _leads(session: Session, recent: int) -> dict[str, list[float]]:
    """Per model: days from each case's first detection (its opening) to the crossing
    detection predicted, over the ``recent`` newest cases."""
    rows = session.execute(
        select(Case.model, Case.explanation, Case.opened_at).order_by(Case.id.desc()).limit(recent)
    )
    leads: dict[str, list[float]] = {}
    for row in rows:
        if (days := _lead_days(row.explanation, row.opened_at)) is not None:
            leads.setdefault(row.model, []).append(days)
    return leads


def _health_counts(
    session: Session, latest: LatestOf, now: float, stale_after_s: float
) -> dict[str, dict[str, int]]:
    counts = _open_counts(session)
    per_model: dict[str, dict[str, int]] = {}
    for device_id, model in session.execute(select(Device.id, Device.model)):
        state = health_of(counts.get(device_id, 0), latest(device_id), now, stale_after_s)
        row = per_model.setdefault(model, dict.fromkeys(HEALTHS, 0))
        row[state] += 1
    return per_model


def fleet_rows(
    session: Session, latest: LatestOf, now: float, stale_after_s: float, recent: int = 2000
) -> list[ModelRow]:
    """Per model: devices by health, open cases, and the median lead time."""
    health = _health_counts(session, latest, now, stale_after_s)
    is_open = Case.status.in_(OPEN_STATUSES)
    rows = session.execute(select(Case.model, func.count()).where(is_open).group_by(Case.model))
    open_cases: dict[str, int] = {model: int(n) for model, n in rows}
    leads = _leads(session, recent)
    return [
        ModelRow(
            model=model,
            devices=sum(health.get(model, {}).values()),
            health=health.get(model, dict.fromkeys(HEALTHS, 0)),
            open_cases=open_cases.get(model, 0),
            lead_time_days=median(leads[model]) if leads.get(model) else None,
        )
        for model in sorted(set(health) | set(open_cases) | set(leads))
    ]


def clock_of(ctx: AppContext) -> tuple[float, float]:
    """(now, stale_after_s) for health: the engine's time (replay-aware) and threshold."""
    return ctx.now().timestamp(), float(ctx.stale_after_s)
