"""The baseline most platforms ship: a static warning threshold per metric.

The warning level sits 80% of the way from the middle of the metric's normal range to
its user-visible limit::

    warn = mid + 0.8 * (limit - mid),   mid = (normal_low + normal_high) / 2

so for an "up" metric (limit above normal) it fires on ``value >= warn`` and for a
"down" metric (limit below normal) on ``value <= warn``. A single reading past the
level raises the alarm (what a plain threshold rule does; this gives the baseline its
earliest possible warning). It clears after ``clear_n`` consecutive readings back on the
healthy side. The suspected failure mode is the one the metric is primary for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.events import AnomalyEvent, Explanation
from core.profiles import DeviceProfile, MetricSpec
from core.readings import Reading


def warning_level(spec: MetricSpec, fraction: float = 0.8) -> float:
    """``fraction`` of the way from the normal-range midpoint to the limit.

    >>> from core.profiles import load_profiles
    >>> warning_level(load_profiles()["aircon-x1"].metrics["filter_dp_pa"])  # 55 + .8 * 95
    131.0
    """
    mid = (spec.normal[0] + spec.normal[1]) / 2.0
    return mid + fraction * (spec.limit - mid)


class StaticThreshold:
    """Bank-shaped baseline: ``update(readings) -> list[AnomalyEvent]``."""

    def __init__(
        self,
        profiles: dict[str, DeviceProfile],
        directory: Callable[[str], str | None],
        fraction: float = 0.8,
        clear_n: int = 144,
    ) -> None:
        self.profiles = profiles
        self.directory = directory
        self.fraction = fraction
        self.clear_n = clear_n
        self._levels = {
            (model, m): (warning_level(spec, fraction), spec.direction == "up")
            for model, p in profiles.items()
            for m, spec in p.metrics.items()
        }
        self._active: dict[tuple[str, str], int] = {}  # (device, metric) -> healthy run
        self._started: dict[tuple[str, str], float] = {}

    def update(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        events = []
        for r in readings:
            model = self.directory(r.device_id)
            if model is None or model not in self.profiles:
                continue
            for metric, value in r.metrics.items():
                level = self._levels.get((model, metric))
                if level is None:
                    continue
                warn, up = level
                past = value >= warn if up else value <= warn
                edge = self._step((r.device_id, metric), past, r.ts)
                if edge is not None:
                    events.append(self._event(r.device_id, model, metric, value, edge, r.ts))
        return events

    def _step(self, key: tuple[str, str], past: bool, ts: float) -> str | None:
        healthy = self._active.get(key)
        if healthy is None:
            if past:
                self._active[key] = 0
                self._started[key] = ts
                return "anomaly"
            return None
        healthy = 0 if past else healthy + 1
        if healthy >= self.clear_n:
            del self._active[key]
            return "recovery"
        self._active[key] = healthy
        return None

    def _event(
        self, device_id: str, model: str, metric: str, value: float, kind: str, ts: float
    ) -> AnomalyEvent:
        profile = self.profiles[model]
        spec = profile.metrics[metric]
        mode = (profile.modes_for_metric(metric) or list(profile.failure_modes))[0]
        warn = warning_level(spec, self.fraction)
        text = f"{metric} {value:.4g} {spec.unit} past warning level {warn:.4g}"
        why = Explanation(
            metric,
            spec.unit,
            warn,
            value,
            limit=spec.limit,
            detectors=("static-threshold",),
            text=text,
        )
        started = self._started.pop((device_id, metric), ts) if kind == "recovery" else ts
        return AnomalyEvent(
            device_id,
            model,
            mode,
            kind,  # type: ignore[arg-type]
            ts,
            started,
            profile.failure_modes[mode].severity,
            1.0,
            why,
        )
