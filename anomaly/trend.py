"""Trend detection with a forecast of when the user-visible limit will be crossed.

Values are averaged into fixed buckets (an hour by default). When a bucket closes, the
slope is the median of differences between buckets one period apart (a day), so the
daily cycle cancels and outliers do not drag the estimate: a robust, seasonal
Theil-Sen-like slope over the last ``window`` buckets. The work per reading is a sum
and a count; the sort happens once per bucket.
"""

from __future__ import annotations

import math
from typing import Any

from anomaly.stateful import Stateful

_NAN = float("nan")


def step_vs_line(ys: list[float]) -> float:
    """Squared error of the best single step over that of the least-squares line.

    Small (say < 0.35) when the window holds a level shift rather than a trend.

    >>> round(step_vs_line([0.0] * 10 + [1.0] * 10), 3)
    0.0
    >>> step_vs_line([float(i) for i in range(20)]) > 0.2
    True
    """
    n = len(ys)
    if n < 8:
        return 1.0
    total = sum(ys)
    my, mx = total / n, (n - 1) / 2.0
    sst = sum((y - my) ** 2 for y in ys)
    sxy = sum((i - mx) * (y - my) for i, y in enumerate(ys))
    sxx = n * (n * n - 1) / 12.0
    sse_line = sst - sxy * sxy / sxx
    best, prefix = sst, ys[0] + ys[1]
    for k in range(2, n - 1):
        m1, m2 = prefix / k, (total - prefix) / (n - k)
        best = min(best, sst - k * (m1 - my) ** 2 - (n - k) * (m2 - my) ** 2)
        prefix += ys[k]
    return best / sse_line if sse_line > 1e-12 else 1.0


class Trend(Stateful):
    """Score = robust t-statistic of the slope in ``direction`` (0 until enough data).

    After each bucket: ``slope_per_day``, ``level`` (mean of the last period) and, when
    ``limit`` is set and the slope heads for it, ``eta_ts`` (when it will be crossed).

    Examples
    --------
    >>> det = Trend(bucket_s=3600.0, window=48, lag=24, limit=20.0, direction="up")
    >>> for i in range(72 * 6):                     # 3 days of 10-minute points
    ...     det.learn_one(600.0 * i, 10.0 + i * 600.0 / 86400.0)  # +1 per day
    >>> round(det.slope_per_day, 3), det.score_one(0.0, 0.0) > 5
    (1.0, True)
    >>> round((det.eta_ts - 600.0 * 431) / 86400.0)  # ~7 more days to reach 20
    7
    """

    __slots__ = (
        "bucket_s", "window", "lag", "limit", "direction", "min_pairs", "step_veto",
        "_bucket", "_sum", "_count", "_means", "_t", "slope_per_day", "level", "eta_ts",
    )  # fmt: skip

    def __init__(
        self,
        bucket_s: float = 3600.0,
        window: int = 72,
        lag: int = 24,
        limit: float | None = None,
        direction: str = "both",
        min_pairs: int = 12,
        step_veto: float = 0.0,
    ) -> None:
        self.bucket_s = bucket_s
        self.window = window
        self.lag = lag
        self.limit = limit
        self.direction = direction
        self.min_pairs = min_pairs
        self.step_veto = step_veto
        self._bucket = -1
        self._sum = 0.0
        self._count = 0
        self._means: list[float] = []
        self._t = 0.0
        self.slope_per_day = 0.0
        self.level = _NAN
        self.eta_ts: float | None = None

    def score_one(self, ts: float, value: float) -> float:
        return self._t

    def learn_one(self, ts: float, value: float) -> None:
        b = int(ts // self.bucket_s)
        if b != self._bucket:
            if self._bucket >= 0 and b > self._bucket:
                self._close(b)
            self._bucket = b
            self._sum = 0.0
            self._count = 0
        self._sum += value
        self._count += 1

    def update(self, ts: float, value: float) -> float:
        self.learn_one(ts, value)
        return self._t

    def _close(self, new_bucket: int) -> None:
        means = self._means
        means.append(self._sum / self._count if self._count else _NAN)
        gap = min(new_bucket - self._bucket - 1, self.window)
        means.extend([_NAN] * gap)
        if len(means) > self.window:
            del means[: len(means) - self.window]
        self._fit((self._bucket + 1 + gap) * self.bucket_s)

    def _fit(self, now: float) -> None:
        means, lag = self._means, self.lag
        diffs = [
            means[i + lag] - means[i]
            for i in range(len(means) - lag)
            if means[i] == means[i] and means[i + lag] == means[i + lag]
        ]
        if len(diffs) < self.min_pairs:
            return
        diffs.sort()
        n = len(diffs)
        med = diffs[n // 2]
        spread = (diffs[(3 * n) // 4] - diffs[n // 4]) / 1.349  # IQR -> sigma
        span_days = lag * self.bucket_s / 86400.0
        self.slope_per_day = med / span_days
        se = (spread + 1e-12) / math.sqrt(n)
        t = med / se
        self._t = (
            max(t, 0.0)
            if self.direction == "up"
            else (max(-t, 0.0) if self.direction == "down" else abs(t))
        )
        veto = self.step_veto and self._t >= 1.0
        if veto and step_vs_line([m for m in means if m == m]) < self.step_veto:
            self._t = 0.0  # one jump explains the window better than a slope: not a trend
        recent = [m for m in means[-lag:] if m == m]
        self.level = sum(recent) / len(recent) if recent else _NAN
        self.eta_ts = self._eta(now - lag * self.bucket_s / 2.0)

    def _eta(self, level_ts: float) -> float | None:
        slope = self.slope_per_day / 86400.0
        if self.limit is None or slope == 0.0 or self.level != self.level:
            return None
        dt = (self.limit - self.level) / slope
        return level_ts + dt if dt > 0.0 else None

    def _state(self) -> dict[str, Any]:
        return {"bucket": self._bucket, "sum": self._sum, "count": self._count,
                "means": [None if m != m else m for m in self._means], "t": self._t,
                "slope_per_day": self.slope_per_day,
                "level": None if self.level != self.level else self.level,
                "eta_ts": self.eta_ts}  # fmt: skip

    def _load(self, state: dict[str, Any]) -> None:
        self._bucket = int(state["bucket"])
        self._sum = float(state["sum"])
        self._count = int(state["count"])
        self._means = [_NAN if m is None else float(m) for m in state["means"]]
        self._t = float(state["t"])
        self.slope_per_day = float(state["slope_per_day"])
        self.level = _NAN if state["level"] is None else float(state["level"])
        self.eta_ts = state["eta_ts"]
