"""Device health and fleet figures, shared by the devices API and the fleet page."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from sqlalchemy import func, select
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


def _lead_days(case: Case) -> float | None:
    eta = (case.explanation or {}).get("eta_ts")
    if not isinstance(eta, int | float):
        return None
    # both ends in the telemetry's own time, so a replayed (simulated) fleet reads right
    lead = (eta - case.last_anomaly_at.timestamp()) / 86400
    return lead if lead >= 0 else None


def fleet_rows(session: Session) -> list[ModelRow]:
    """Per model: devices, devices with an open case, open cases, median lead time."""
    devices: dict[str, int] = {}
    for model in session.scalars(select(Device.model)):
        devices[model] = devices.get(model, 0) + 1
    cases = session.scalars(select(Case)).all()
    rows = []
    for model in sorted(set(devices) | {c.model for c in cases}):
        mine = [c for c in cases if c.model == model]
        open_ = [c for c in mine if c.status in OPEN_STATUSES]
        leads = [d for c in mine if (d := _lead_days(c)) is not None]
        rows.append(
            ModelRow(
                model=model,
                devices=devices.get(model, 0),
                degraded=len({c.device_id for c in open_}),
                open_cases=len(open_),
                lead_time_days=median(leads) if leads else None,
            )
        )
    return rows
