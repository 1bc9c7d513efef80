"""The telemetry around an anomaly, kept on the case so every agent sees the same data."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from core.events import AnomalyEvent
from tickets.cases import jsonable, thin

log = logging.getLogger(__name__)
MAX_POINTS = 500  # per metric; longer series are thinned evenly
Telemetry = Callable[[str, float, float], Mapping[str, Any]]


def take_snapshot(telemetry: Telemetry, event: AnomalyEvent, before_s: float) -> dict[str, Any]:
    """``{"start", "end", "series": {metric: [[ts, value], ...]}}`` from ``before_s`` ahead
    of the degradation's start to the event; ``{"error": ...}`` if telemetry fails."""
    start = min(event.started_at, event.ts) - before_s
    try:
        series = telemetry(event.device_id, start, event.ts)
    except Exception:  # a telemetry outage must not stop the case from opening
        log.exception("telemetry snapshot for %s failed", event.device_id)
        return {"error": "telemetry unavailable"}
    thinned = {str(metric): thin(list(points), MAX_POINTS) for metric, points in series.items()}
    return {"start": start, "end": event.ts, "series": jsonable(thinned)}
