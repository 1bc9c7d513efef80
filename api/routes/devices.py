"""Devices with their latest readings and health, and their telemetry over time."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import func, select

from api.deps import CtxDep, SessionDep, Viewer
from api.fleet import clock_of, device_public
from api.openapi import AUTH_ERRORS, problem_responses
from api.queries import open_case_counts
from api.schemas import DevicePublic, DevicesPublic, TelemetryPublic
from ingest.base import StoreError
from tickets.models import Case, Device

router = APIRouter(prefix="/devices", tags=["devices"], responses=AUTH_ERRORS)
DeviceId = Annotated[str, Path(min_length=1, max_length=64, description="Device id.")]
DEFAULT_SPAN_S = 7 * 86400.0
MAX_SPAN_S = 400 * 86400.0
RAW_SPAN_S = 2 * 86400.0  # longer ranges are averaged unless ``every`` says otherwise
TARGET_POINTS = 1000
MAX_BUCKETS = 20_000


@router.get(
    "",
    response_model=DevicesPublic,
    summary="List devices with health",
    responses=problem_responses(503),
)
def read_devices(
    _: Viewer,
    ctx: CtxDep,
    db: SessionDep,
    model: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> DevicesPublic:
    """Registered devices in id order, a page at a time, each with its newest readings and
    health: ``degraded`` while a case is open, ``silent`` when nothing arrived for the
    staleness threshold, ``unknown`` if never heard from, else ``healthy``."""
    query = select(Device).order_by(Device.id)
    if model:
        query = query.where(Device.model == model)
    if customer_id:
        query = query.where(Device.customer_id == customer_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.limit(limit).offset(offset)).all()
    counts = open_case_counts(db, Case.device_id)
    clock = clock_of(ctx)
    try:
        data = [device_public(d, counts.get(d.id, 0), ctx.latest.get(d.id), *clock) for d in rows]
    except StoreError as exc:
        raise HTTPException(503, f"The telemetry store does not answer: {exc}") from None
    return DevicesPublic(data=data, count=total)


@router.get(
    "/{device_id}",
    response_model=DevicePublic,
    summary="One device, latest readings",
    responses=problem_responses(404, 503),
)
def read_device(_: Viewer, ctx: CtxDep, db: SessionDep, device_id: DeviceId) -> DevicePublic:
    """One device with its newest readings, health and open cases."""
    device = db.get(Device, device_id)
    if device is None:
        raise HTTPException(404, f"No device {device_id!r}.")
    counts = open_case_counts(db, Case.device_id)
    try:
        latest = ctx.latest.get(device_id)
    except StoreError as exc:
        raise HTTPException(503, f"The telemetry store does not answer: {exc}") from None
    return device_public(device, counts.get(device_id, 0), latest, *clock_of(ctx))


def _window(
    start: float | None, end: float | None, every: float | None, now: float
) -> tuple[float, float, float | None]:
    """The range and bucket actually served: at most 400 days back from ``end``, raw up to
    two days, and never more than MAX_BUCKETS buckets."""
    end = end if end is not None else now
    start = start if start is not None else end - DEFAULT_SPAN_S
    start = max(start, end - MAX_SPAN_S)
    span = end - start
    if every is None and span > RAW_SPAN_S:
        every = float(round(span / TARGET_POINTS))
    if every is not None and span / every > MAX_BUCKETS:
        every = float(math.ceil(span / MAX_BUCKETS))
    return start, end, every


@router.get(
    "/{device_id}/telemetry",
    response_model=TelemetryPublic,
    summary="One metric of a device over a time range, optionally averaged",
    responses=problem_responses(404, 503),
)
def read_telemetry(
    _: Viewer,
    ctx: CtxDep,
    db: SessionDep,
    device_id: DeviceId,
    metric: Annotated[str, Query(min_length=1, max_length=64, description="Metric name.")],
    start: Annotated[
        float | None, Query(ge=0, le=1e11, description="Epoch seconds; default end - 7 days.")
    ] = None,
    end: Annotated[
        float | None, Query(ge=0, le=1e11, description="Epoch seconds; default now.")
    ] = None,
    every: Annotated[
        float | None,
        Query(
            ge=1,
            le=MAX_SPAN_S,
            description="Average over buckets of this many seconds. Default: raw up to 2 "
            "days, else ~1000 buckets.",
        ),
    ] = None,
) -> TelemetryPublic:
    """Points of one metric in [start, end), oldest first, raw or averaged per bucket.

    The response's ``start``, ``end`` and ``every`` are what was served: a range longer
    than 400 days is cut to the 400 days before ``end``, ``every`` is raised so there are
    at most 20,000 buckets, and an empty or backwards range has no points."""
    device = db.get(Device, device_id)
    if device is None:
        raise HTTPException(404, f"No device {device_id!r}.")
    profile = ctx.profiles.get(device.model)
    spec = profile.metrics.get(metric) if profile else None
    if spec is None:
        raise HTTPException(404, f"Device {device_id!r} has no metric {metric!r}.")
    start, end, every = _window(start, end, every, ctx.clock())
    try:
        points = ctx.store.query(device_id, metric, start, end, every) if end > start else []
    except StoreError as exc:
        raise HTTPException(503, f"The telemetry store does not answer: {exc}") from None
    return TelemetryPublic(
        device_id=device_id,
        metric=metric,
        unit=spec.unit,
        start=start,
        end=end,
        every=every,
        points=points,
    )
