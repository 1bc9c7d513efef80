"""The chart on a case page: the case's metric around the anomaly, from the store."""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup

from api.chart import ChartSpec, render_chart
from api.context import AppContext
from api.present import explanation
from core.profiles import metric_title
from ingest.base import StoreError
from tickets.models import Case

DAY = 86400.0
MAX_SPAN_S = 30 * DAY
TARGET_POINTS = 300


def chart_metric(ctx: AppContext, case: Case) -> str | None:
    """The metric the explanation names, else the failure mode's own metric."""
    named = explanation(case).metric
    profile = ctx.profiles.get(case.model)
    if profile is None:
        return named or None
    if named in profile.metrics:
        return named
    mode = profile.failure_modes.get(case.failure_mode)
    return mode.metric if mode else None


def _window(ctx: AppContext, case: Case) -> tuple[float, float]:
    end = case.last_anomaly_at.timestamp()
    try:
        latest = ctx.store.latest(case.device_id)
    except StoreError:
        latest = None
    if latest is not None and latest.ts > end:
        end = latest.ts
    if case.resolved_at is not None:
        end = min(end, case.resolved_at.timestamp() + DAY)
    onset = case.started_at.timestamp()
    start = onset - max(2 * DAY, (end - onset) * 0.5)
    return max(start, end - MAX_SPAN_S), end


def _points(ctx: AppContext, case: Case, metric: str) -> list[tuple[float, float]]:
    start, end = _window(ctx, case)
    every = (end - start) / TARGET_POINTS if end - start > DAY else None
    try:
        points = ctx.store.query(case.device_id, metric, start, end, every)
    except StoreError:
        points = []
    if points:
        return points
    series = (case.telemetry or {}).get("series") or {}  # what the service kept at opening
    snapshot = series.get(metric) or [] if isinstance(series, dict) else []
    return [(float(t), float(v)) for t, v in snapshot if v is not None]


def case_chart(
    ctx: AppContext, case: Case, _: Callable[..., str], locale: str = "en", tz: str = "UTC"
) -> Markup | None:
    """An inline SVG for the case page in the reader's language and time zone, or None
    when there is nothing to draw."""
    metric = chart_metric(ctx, case)
    if metric is None:
        return None
    profile = ctx.profiles.get(case.model)
    spec = profile.metrics.get(metric) if profile else None
    why = explanation(case)
    return render_chart(
        ChartSpec(
            points=_points(ctx, case, metric),
            unit=spec.unit if spec else why.unit,
            normal=spec.normal if spec else None,
            limit=why.limit if why.limit is not None else (spec.limit if spec else None),
            onset_ts=case.started_at.timestamp(),
            eta_ts=why.eta_ts,
            eta_range=why.eta_range,
            title=f"{metric_title(profile, metric, locale)} ({spec.unit if spec else why.unit})",
            label_normal=_("normal_band"),
            label_limit=_("limit"),
            label_eta=_("eta"),
            marks=marks(case, _),
            tz=tz,
        )
    )


def marks(case: Case, _: Callable[..., str]) -> list[tuple[float, str, str]]:
    """When the case opened and each escalation, in telemetry time (the chart's axis)."""
    out = []
    for event in case.events:
        at = event.detail.get("at")
        if not isinstance(at, int | float):
            continue
        if event.kind == "opened":
            out.append((float(at), "opened", _("ev_opened")))
        elif event.kind == "escalated":
            severity = _(str(event.detail.get("severity_to", "")))
            out.append((float(at), "escalated", f"{_('ev_escalated')} → {severity}"))
    return out
