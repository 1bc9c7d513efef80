"""Case rules in small pieces: severity order, priority, SLA, the one-open-case upsert."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.cases import OPEN_STATUSES
from core.events import SEVERITY_RANK, AnomalyEvent
from tickets.models import OPEN_WHERE, Case, Customer, Device, MaintenanceWindow, utcnow
from tickets.settings import TicketsConfig

BASE_PRIORITY = {"critical": 1, "high": 2, "medium": 3, "low": 4}
URGENT_ETA_S = 86400.0


def as_datetime(value: float | datetime) -> datetime:
    """Epoch seconds or a datetime, as an aware UTC datetime."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def higher(a: str, b: str) -> str:
    """The more severe of two severities (an unknown name ranks as medium)."""
    return a if SEVERITY_RANK.get(a, 1) >= SEVERITY_RANK.get(b, 1) else b


def severity_of(event: AnomalyEvent) -> str:
    """The case severity an event calls for: detection's, and at least "high" once the
    device is past its user-visible limit (the customer notices the fault now)."""
    return higher(event.severity, "high") if event.extra.get("breached") else event.severity


def priority(severity: str, customer: Customer | None, eta_ts: float | None, now: datetime) -> int:
    """1 (most urgent) .. 4: from severity, raised one step for a premium customer and one
    step when the customer will notice the problem within a day."""
    value = BASE_PRIORITY.get(severity, 3)
    if customer is not None and customer.tier == "premium":
        value -= 1
    if eta_ts is not None and eta_ts - now.timestamp() < URGENT_ETA_S:
        value -= 1
    return max(1, value)


def sla_due(settings: TicketsConfig, severity: str, now: datetime) -> datetime:
    """When the case must be handled, from ``settings.cases.default_sla_hours``."""
    hours = settings.cases.default_sla_hours.get(severity, 72.0)
    return now + timedelta(hours=hours)


def maintenance_at(session: Session, device_id: str, at: datetime) -> MaintenanceWindow | None:
    """The maintenance window covering ``at`` for the device, if any (suppress wins)."""
    windows = session.scalars(
        select(MaintenanceWindow).where(
            MaintenanceWindow.device_id == device_id,
            MaintenanceWindow.starts_at <= at,
            MaintenanceWindow.ends_at > at,
        )
    ).all()
    return min(windows, key=lambda w: w.mode != "suppress", default=None)


def insert_open(session: Session, values: Mapping[str, Any]) -> int | None:
    """INSERT the case unless an open one exists for (device, failure mode).

    Returns the new id, or None when the partial unique index said a case is already
    open. Atomic on SQLite and PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING``.
    """
    stmt = (
        _insert(session)(Case)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["device_id", "failure_mode"], index_where=text(OPEN_WHERE)
        )
        .returning(Case.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def write_lock(session: Session) -> None:
    """Take SQLite's write lock now, before reading what will be changed.

    SQLite has no ``SELECT ... FOR UPDATE``; a deferred transaction that reads first and
    writes later can act on stale rows. Starting the write transaction first (a no-op
    UPDATE) makes every following read current until commit. PostgreSQL uses row locks
    instead, so this is a no-op there.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE cases SET id = id WHERE 0"))


def find_open(
    session: Session, device_id: str, failure_mode: str | None = None, lock: bool = False
) -> list[Case]:
    """Open cases of a device (one failure mode, or all); optionally row-locked."""
    query = select(Case).where(Case.device_id == device_id, Case.status.in_(OPEN_STATUSES))
    if failure_mode:
        query = query.where(Case.failure_mode == failure_mode)
    if lock:
        write_lock(session)
        query = query.with_for_update()  # row locks on PostgreSQL; ignored by SQLite
    return list(session.scalars(query.order_by(Case.id)))


def latest_case(session: Session, device_id: str, failure_mode: str) -> Case | None:
    """The device's most recent case for ``failure_mode`` (any status), locked."""
    write_lock(session)
    query = (
        select(Case)
        .where(Case.device_id == device_id, Case.failure_mode == failure_mode)
        .order_by(Case.id.desc())
        .limit(1)
        .with_for_update()
    )
    return session.scalar(query)


def ensure_device(session: Session, device_id: str, model: str, product_line: str) -> Device:
    """The device row, created (without customer) if detection knows a device we don't;
    race-free (``ON CONFLICT DO NOTHING``) when several events for it arrive at once."""
    device = session.get(Device, device_id)
    if device is None:
        values = {
            "id": device_id,
            "model": model,
            "product_line": product_line,
            "created_at": utcnow(),
        }
        session.execute(_insert(session)(Device).values(**values).on_conflict_do_nothing())
        device = session.get_one(Device, device_id)
    return device


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def jsonable(value: Any) -> Any:
    """Plain JSON values: tuples to lists, numpy-style numbers to float, non-finite to None."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


def thin(points: Sequence[Any], max_points: int) -> list[Any]:
    """At most ``max_points`` evenly spaced items, always keeping the last one."""
    if len(points) <= max_points:
        return list(points)
    step = math.ceil(len(points) / max_points)
    kept = list(points[::step])
    if kept[-1] is not points[-1]:
        kept[-1] = points[-1]
    return kept
