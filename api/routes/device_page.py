"""The device page: latest readings against their ranges, a chart per metric, its cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import select

from api.case_chart import marks
from api.chart import ChartSpec, render_chart
from api.context import AppContext
from api.deps import CtxDep, PageUser, SessionDep
from api.fleet import clock_of, health_of
from api.i18n import pick_locale, translator
from api.present import case_public
from api.templating import render
from core.cases import OPEN_STATUSES
from core.profiles import DeviceProfile, metric_title
from core.readings import Reading
from ingest.base import StoreError
from tickets.models import Case, Device

router = APIRouter(include_in_schema=False)
WINDOW_S = 7 * 86400.0


def _charts(
    ctx: AppContext,
    device_id: str,
    profile: DeviceProfile,
    latest: Reading | None,
    locale: str,
    tz: str,
    cases: Sequence[Case] = (),
) -> dict[str, Markup]:
    if latest is None:
        return {}
    _ = translator(locale)
    flags = [(ts, kind, f"#{c.id} {label}") for c in cases for ts, kind, label in marks(c, _)]
    end, charts = latest.ts, {}
    for name, spec in profile.metrics.items():
        try:
            points = ctx.store.query(device_id, name, end - WINDOW_S, end + 1, 3600.0)
        except StoreError:
            points = []
        charts[name] = render_chart(
            ChartSpec(
                points=points,
                unit=spec.unit,
                normal=spec.normal,
                limit=spec.limit,
                title=f"{metric_title(profile, name, locale)} ({spec.unit})",
                label_normal=_("normal_band"),
                label_limit=_("limit"),
                marks=flags,
                tz=tz,
            )
        )
    return charts


@router.get("/devices/{device_id}", response_class=HTMLResponse)
def device_page(
    request: Request,
    user: PageUser,
    ctx: CtxDep,
    db: SessionDep,
    device_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    device = db.get(Device, device_id)
    if device is None:
        raise HTTPException(404, f"No device {device_id!r}.")
    locale = pick_locale(request, user.locale)
    profile = ctx.profiles.get(device.model)
    try:
        latest = ctx.latest.get(device_id)
    except StoreError:
        latest = None
    cases = db.scalars(
        select(Case).where(Case.device_id == device_id).order_by(Case.opened_at.desc())
    ).all()
    open_count = sum(c.status in OPEN_STATUSES for c in cases)
    return render(
        request,
        "device.html",
        user,
        nav="fleet",
        device=device,
        profile=profile,
        latest=latest,
        health=health_of(open_count, latest, *clock_of(ctx)),
        stale_after_s=ctx.stale_after_s,
        now=ctx.now(),
        charts=_charts(ctx, device_id, profile, latest, locale, user.timezone or "UTC", cases)
        if profile
        else {},
        cases=[case_public(c, ctx.profiles, locale) for c in cases],
    )
