"""One (device, metric) stream: the detectors combined with the profile's limit.

The degradation score ``D`` (alarm at 1) is the largest of:

- drift:  CUSUM shift toward the limit AND a robust trend heading for it, with the
          forecast crossing (ETA) inside ``horizon_days``: ``min(cusum/h, t/t_min)``;
- level:  the smoothed value has moved ``p_big`` of the way from its healthy
          reference to the user-visible limit;
- spikes: the rate of large deviations toward the limit (intermittent faults);
- breach: the smoothed value is past the limit.

A level shift that stays flat (a benign change) never gets a trend, and after
``rebase_days`` without an alarm the reference accepts it as the new normal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from anomaly.cusum import Cusum
from anomaly.postprocess import Alarm, Edge
from anomaly.profiles import MetricSpec
from anomaly.seasonal import SeasonalBaseline
from anomaly.trend import Trend


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Hyper-parameters of every stream (one object shared by the bank)."""

    warmup: int = 144
    cusum_k: float = 0.5
    cusum_h: float = 12.0
    cusum_alpha: float = 0.003
    trend_window: int = 96
    t_min: float = 4.0
    horizon_days: float = 30.0
    p_big: float = 0.5
    spike_z: float = 5.0
    spike_alpha: float = 1.0 / 144.0
    spike_rate: float = 0.03
    smooth_alpha: float = 1.0 / 12.0
    rebase_days: float = 3.0
    alarm_n: int = 6
    alarm_m: int = 12
    clear: float = 0.5
    clear_n: int = 144
    suppress_s: float = 6 * 3600.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MetricStream:
    """Detectors, smoothing and the alarm for one metric of one device."""

    __slots__ = (
        "spec", "cfg", "sign", "fast", "cusum", "trend", "alarm", "smooth", "spikes",
        "score", "drift", "level_frac", "_flat_since", "_n",
    )  # fmt: skip

    def __init__(self, spec: MetricSpec, cfg: StreamConfig) -> None:
        self.spec = spec
        self.cfg = cfg
        self.sign = 1.0 if spec.direction == "up" else -1.0
        self.fast = SeasonalBaseline(warmup=cfg.warmup)
        self.cusum = Cusum(k=cfg.cusum_k, alpha=cfg.cusum_alpha, warmup=cfg.warmup,
                           direction=spec.direction)  # fmt: skip
        self.trend = Trend(window=cfg.trend_window, limit=spec.limit, direction=spec.direction)
        self.alarm = Alarm(threshold=1.0, clear=cfg.clear, n=cfg.alarm_n, m=cfg.alarm_m,
                           clear_n=cfg.clear_n, suppress_s=cfg.suppress_s)  # fmt: skip
        self.smooth = 0.0
        self.spikes = 0.0
        self.score = 0.0
        self.drift = 0.0
        self.level_frac = 0.0
        self._flat_since: float | None = None
        self._n = 0

    def update(self, ts: float, x: float) -> Edge:
        """Score one value, learn from it, and return the alarm edge (if any)."""
        cfg = self.cfg
        self._n += 1
        a = cfg.smooth_alpha if self._n > 12 else 1.0 / self._n
        s = self.smooth = x if self._n == 1 else self.smooth + a * (x - self.smooth)
        z = self.sign * self.fast.deviation(ts, x)
        self.fast.learn_one(ts, x)
        self.spikes += cfg.spike_alpha * ((z > cfg.spike_z) - self.spikes)
        c = self.cusum.update(ts, x) / cfg.cusum_h
        t = self.trend.update(ts, x) / cfg.t_min
        eta = self.trend.eta_ts
        soon = eta is not None and eta - ts < cfg.horizon_days * 86400
        drift = self.drift = (c if c < t else t) if soon else 0.0
        frac = self._level_frac(ts, s)
        score = drift
        if frac / cfg.p_big > score:
            score = frac / cfg.p_big
        if self.spikes / cfg.spike_rate > score:
            score = self.spikes / cfg.spike_rate
        if self.sign * (s - self.spec.limit) >= 0.0 and self._n > 6:
            score = 2.0
        self.score = score
        edge = self.alarm.step(ts, score)
        self._maybe_rebase(ts, c, t)
        return edge

    def _level_frac(self, ts: float, smooth: float) -> float:
        ref = self.cusum.reference
        if not ref.warm:
            self.level_frac = 0.0
            return 0.0
        expected = ref.expected(ts)
        room = abs(self.spec.limit - expected) or 1e-9
        self.level_frac = self.sign * (smooth - expected) / room
        return self.level_frac if self.level_frac > 0.0 else 0.0

    def _maybe_rebase(self, ts: float, c: float, t: float) -> None:
        if self.alarm.active or c < 1.0 or t >= 0.5:
            self._flat_since = None
            return
        if self._flat_since is None:
            self._flat_since = ts
        elif ts - self._flat_since >= self.cfg.rebase_days * 86400:
            self.cusum.accept(self.trend.level)
            self._flat_since = None

    def expected(self, ts: float) -> float:
        """The healthy value the reference expects at ``ts``."""
        return self.cusum.reference.expected(ts)

    def room_frac_per_day(self) -> float:
        """Trend toward the limit per day, as a fraction of the room to the limit."""
        ref = self.cusum.reference
        room = abs(self.spec.limit - ref.expected_mean()) or 1e-9
        return self.sign * self.trend.slope_per_day / room

    def fired(self) -> tuple[str, ...]:
        """Names of the detectors whose evidence is above their own threshold now."""
        cfg, names = self.cfg, []
        if self.drift >= 1.0:
            names += ["cusum", "trend"]
        if self.level_frac >= cfg.p_big:
            names.append("level")
        if self.spikes >= cfg.spike_rate:
            names.append("spikes")
        if self.sign * (self.smooth - self.spec.limit) >= 0.0:
            names.append("limit")
        return tuple(names)

    def state_dict(self) -> dict[str, Any]:
        return {"fast": self.fast.state_dict(), "cusum": self.cusum.state_dict(),
                "trend": self.trend.state_dict(), "alarm": self.alarm.state_dict(),
                "smooth": self.smooth, "spikes": self.spikes, "score": self.score,
                "drift": self.drift, "level_frac": self.level_frac,
                "flat_since": self._flat_since, "n": self._n}  # fmt: skip

    def load_state_dict(self, st: dict[str, Any]) -> None:
        self.fast.load_state_dict(st["fast"])
        self.cusum.load_state_dict(st["cusum"])
        self.trend.load_state_dict(st["trend"])
        self.alarm.load_state_dict(st["alarm"])
        self.smooth = float(st["smooth"])
        self.spikes = float(st["spikes"])
        self.score = float(st["score"])
        self.drift = float(st["drift"])
        self.level_frac = float(st["level_frac"])
        self._flat_since = st["flat_since"]
        self._n = int(st["n"])
