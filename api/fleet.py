"""Device health and fleet figures, shared by the devices API and the fleet page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from api.schemas import DevicePublic, ReadingPublic
from ingest.base import TelemetryStore
from tickets.models import OPEN_STATUSES, Case, Device


def health_of(open_cases: int, has_readings: bool) -> str:
    """Degraded while a case is open; healthy once we hear from it; unknown before."""
    if open_cases:
        return "degraded"
    return "healthy" if has_readings else "unknown"


def device_public(device: Device, open_cases: int, store: TelemetryStore) -> DevicePublic:
    reading = store.latest(device.id)
    latest = (
        ReadingPublic(device_id=reading.device_id, ts=reading.ts, metrics=dict(reading.metrics))
        if reading
        else None
    )
    return DevicePublic(
        id=device.id,
        model=device.model,
        product_line=device.product_line,
        customer_id=device.customer_id,
        health=health_of(open_cases, latest is not None),  # type: ignore[arg-type]
        open_cases=open_cases,
        latest=latest,
    )


@dataclass
class ModelRow:
    """One product model's line on the fleet page."""

    model: str
    devices: int
    degraded: int
    open_cases: int
    lead_time_days: float | None  # median time from detection to the predicted crossing


def device_rows(
    session: Session, store: TelemetryStore, model: str | None, limit: int = 200
) -> list[DevicePublic]:
    """Devices for the fleet page, those with open cases first."""
    counts = dict(
        session.execute(
            select(Case.device_id, func.count(Case.id))
            .where(Case.status.in_(OPEN_STATUSES))
            .group_by(Case.device_id)
        ).all()
    )
    query = select(Device).order_by(Device.id)
    if model:
        query = query.where(Device.model == model)
    devices = sorted(session.scalars(query), key=lambda d: -counts.get(d.id, 0))[:limit]
    return [device_public(d, counts.get(d.id, 0), store) for d in devices]


def _lead_days(explanation: dict[str, object] | None, detected: datetime) -> float | None:
    eta = (explanation or {}).get("eta_ts")
    if not isinstance(eta, int | float):
        return None
    # both ends in the telemetry's own time, so a replayed (simulated) fleet reads right
    lead = (eta - detected.timestamp()) / 86400
    return lead if lead >= 0 else None


def _grouped(session: Session, key: Any, counted: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(key, counted).where(*where).group_by(key))
    return {row[0]: int(row[1]) for row in rows}


def _leads(session: Session, recent: int) -> dict[str, list[float]]:
    rows = session.execute(
        select(Case.model, Case.explanation, Case.last_anomaly_at)
        .order_by(Case.id.desc())
        .limit(recent)
    )
    leads: dict[str, list[float]] = {}
    for row in rows:
        if (days := _lead_days(row.explanation, row.last_anomaly_at)) is not None:
            leads.setdefault(row.model, []).append(days)
    return leads


def fleet_rows(session: Session, recent: int = 2000) -> list[ModelRow]:
    """Per model: devices, devices with an open case, open cases, and the median lead
    time (detection to predicted crossing) over the ``recent`` newest cases."""
    is_open = Case.status.in_(OPEN_STATUSES)
    devices = _grouped(session, Device.model, func.count())
    open_cases = _grouped(session, Case.model, func.count(), is_open)
    degraded = _grouped(session, Case.model, func.count(distinct(Case.device_id)), is_open)
    leads = _leads(session, recent)
    return [
        ModelRow(
            model=model,
            devices=devices.get(model, 0),
            degraded=degraded.get(model, 0),
            open_cases=open_cases.get(model, 0),
            lead_time_days=median(leads[model]) if leads.get(model) else None,
        )
        for model in sorted(set(devices) | set(open_cases) | set(leads))
    ]
