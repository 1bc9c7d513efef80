"""Maintenance windows: while one runs, a device's anomalies open no case (``suppress``)
or a case without a customer notice (``quiet``)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import AgentRole, CtxDep, Viewer
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas.team import WindowCreate, WindowPublic, WindowsPublic
from tickets.models import Device
from tickets.registry import schedule_maintenance
from tickets.team import cancel_maintenance, list_maintenance

router = APIRouter(prefix="/maintenance", tags=["maintenance"], responses=AUTH_ERRORS)


@router.get("", response_model=WindowsPublic, summary="List maintenance windows")
def read_windows(
    _: Viewer,
    ctx: CtxDep,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    include_past: Annotated[bool, Query(description="Also windows that ended.")] = False,
) -> WindowsPublic:
    """Windows that have not ended (all with ``include_past``), by start."""
    after = None if include_past else ctx.now()
    rows = list_maintenance(ctx.session_factory, device_id, after)
    return WindowsPublic(data=[WindowPublic.model_validate(r) for r in rows], count=len(rows))


@router.post(
    "",
    response_model=WindowPublic,
    status_code=201,
    summary="Schedule a maintenance window",
    responses=problem_responses(404),
)
def add_window(_: AgentRole, ctx: CtxDep, body: WindowCreate) -> WindowPublic:
    """Schedule a window of ``minutes`` on a device from ``starts_at``."""
    starts_at = body.starts_at.astimezone(UTC)
    ends_at = starts_at + timedelta(minutes=body.minutes)
    with ctx.session_factory() as session:
        if session.get(Device, body.device_id) is None:
            raise HTTPException(404, f"No device {body.device_id!r}.")
    window_id = schedule_maintenance(
        ctx.session_factory, body.device_id, starts_at, ends_at, body.mode, body.reason
    )
    return WindowPublic(
        id=window_id,
        device_id=body.device_id,
        starts_at=starts_at,
        ends_at=ends_at,
        mode=body.mode,
        reason=body.reason,
    )


@router.delete(
    "/{window_id}",
    status_code=204,
    summary="Cancel a maintenance window",
    responses=problem_responses(404),
)
def delete_window(
    _: AgentRole, ctx: CtxDep, window_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> None:
    """Delete the window; the device's anomalies open cases again at once."""
    if not cancel_maintenance(ctx.session_factory, window_id):
        raise HTTPException(404, f"No maintenance window {window_id}.")
