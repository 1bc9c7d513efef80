"""Anomalies: the degradations detection reported, one per case, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.deps import SessionDep, Viewer
from api.openapi import AUTH_ERRORS
from api.present import anomaly_public
from api.schemas import AnomaliesPublic, SeverityName
from core.cases import OPEN_STATUSES
from tickets.models import Case

router = APIRouter(prefix="/anomalies", tags=["anomalies"], responses=AUTH_ERRORS)


@router.get("", response_model=AnomaliesPublic, summary="Anomalies behind cases, newest first")
def read_anomalies(
    _: Viewer,
    db: SessionDep,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    model: Annotated[str | None, Query(max_length=64)] = None,
    severity: Annotated[SeverityName | None, Query()] = None,
    active: Annotated[bool, Query(description="Only those whose case is still open.")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> AnomaliesPublic:
    """The degradations detection reported, newest first, with their explanation.

    Built from the cases: one entry per case (device and failure mode), carrying the first
    and latest detection and how many detections the case folded together. Detections that
    never opened a case (de-flapped, suppressed by a maintenance window) are not stored, so
    they are not listed."""
    query = select(Case)
    for column, value in (
        (Case.device_id, device_id),
        (Case.model, model),
        (Case.severity, severity),
    ):
        if value:
            query = query.where(column == value)
    if active:
        query = query.where(Case.status.in_(OPEN_STATUSES))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(Case.last_anomaly_at.desc(), Case.id.desc()).limit(limit).offset(offset)
    )
    return AnomaliesPublic(data=[anomaly_public(c) for c in rows], count=total)
