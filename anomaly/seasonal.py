"""Robust adaptive baseline with daily seasonality: level + hour-of-day offset + spread.

The level and the per-bucket seasonal offsets are exponentially weighted, and every
update is clipped to a few spreads, so a spike moves the baseline by a bounded amount
(an M-estimator in the style of a Huber update). The spread is an EW mean absolute
deviation, scaled to a standard deviation.
"""

from __future__ import annotations

import math
from typing import Any

from anomaly.stateful import Stateful

_MAD_TO_SIGMA = 1.2533  # sqrt(pi / 2): mean absolute deviation -> sigma for a normal


class SeasonalBaseline(Stateful):
    """Score = robust z of a value against its own level and hour-of-day pattern.

    ``direction`` picks which deviations count: "up", "down" or "both" (absolute).

    Examples
    --------
    >>> det = SeasonalBaseline(warmup=20)
    >>> for i in range(200):
    ...     det.learn_one(600.0 * i, 10.0 + 0.1 * (i % 3))
    >>> det.score_one(600.0 * 200, 10.1) < 2
    True
    >>> det.score_one(600.0 * 200, 15.0) > 10
    True
    """

    __slots__ = (
        "alpha",
        "season_alpha",
        "buckets",
        "period_s",
        "warmup",
        "clip",
        "min_scale",
        "direction",
        "min_count",
        "_level",
        "_spread",
        "_season",
        "_sum",
        "_counts",
        "_n",
        "_where_ts",
        "_where_at",
    )

    def __init__(
        self,
        alpha: float = 0.01,
        season_alpha: float = 0.05,
        buckets: int = 24,
        period_s: float = 86400.0,
        warmup: int = 144,
        clip: float = 3.0,
        min_scale: float = 1e-9,
        direction: str = "both",
        min_count: int = 3,
    ) -> None:
        self.alpha = alpha
        self.season_alpha = season_alpha
        self.buckets = buckets
        self.period_s = period_s
        self.warmup = warmup
        self.clip = clip
        self.min_scale = min_scale
        self.direction = direction
        self.min_count = min_count
        self._level = 0.0
        self._spread = 0.0
        self._season: list[float] = []
        self._sum = 0.0  # sum of the seasonal offsets, kept so the mean costs nothing
        self._where_ts = float("nan")
        self._where_at = (0, 0, 0.0)
        self._counts: list[int] = []
        self._n = 0

    def _bucket(self, ts: float) -> int:
        return int((ts % self.period_s) / self.period_s * self.buckets) % self.buckets

    def _where(self, ts: float) -> tuple[int, int, float]:
        """The two bucket centres around ``ts`` and the weight of the second."""
        if ts == self._where_ts:  # the same reading asks several times
            return self._where_at
        p = (ts % self.period_s) / self.period_s * self.buckets - 0.5
        i = int(p // 1.0)
        at = self._where_at = (i % self.buckets, (i + 1) % self.buckets, p - i)
        self._where_ts = ts
        return at

    def _seasonal(self, ts: float) -> float:
        i0, i1, w = self._where(ts)
        season = self._season
        return season[i0] + w * (season[i1] - season[i0])

    def expected(self, ts: float) -> float:
        """The value the baseline expects at ``ts`` (level + seasonal offset)."""
        if not self._season:
            return self._level
        return self._level + self._seasonal(ts)

    def offset(self, ts: float) -> float:
        """The seasonal part at ``ts`` (zero-mean over the cycle)."""
        if not self._season:
            return 0.0
        return self._seasonal(ts) - self._sum / self.buckets

    def expected_mean(self) -> float:
        """The level averaged over the seasonal cycle."""
        if not self._season:
            return self._level
        return self._level + self._sum / self.buckets

    def shift(self, delta: float) -> None:
        """Move the level by ``delta`` (accept a change as the new normal)."""
        self._level += delta

    @property
    def sigma(self) -> float:
        """Current spread as a standard deviation."""
        return self._spread * _MAD_TO_SIGMA + self.min_scale

    @property
    def warm(self) -> bool:
        return self._n >= self.warmup

    def ready(self, ts: float) -> bool:
        """Warm, and the hour-of-day bucket of ``ts`` has had ``min_count`` values."""
        return self._n >= self.warmup and self._counts[self._bucket(ts)] >= self.min_count

    def deviation(self, ts: float, value: float) -> float:
        """Signed robust z of ``value`` (0 during warm-up)."""
        if self._n < self.warmup:
            return 0.0
        return (value - self.expected(ts)) / self.sigma

    def score_one(self, ts: float, value: float) -> float:
        z = self.deviation(ts, value)
        if self.direction == "up":
            return z if z > 0.0 else 0.0
        if self.direction == "down":
            return -z if z < 0.0 else 0.0
        return abs(z)

    def learn_one(self, ts: float, value: float) -> None:
        if not self._season:
            self._season = [0.0] * self.buckets
            self._counts = [0] * self.buckets
            self._level = value
        i0, i1, w = self._where(ts)
        season, counts = self._season, self._counts
        n = self._n = self._n + 1
        a = 1.0 / n if n < 1.0 / self.alpha else self.alpha
        seasonal = season[i0] + w * (season[i1] - season[i0])
        r = value - self._level - seasonal
        bound = self.clip * self.sigma if n > 10 else abs(r)
        rc = r if -bound <= r <= bound else (bound if r > 0 else -bound)
        self._spread += a * (abs(rc) - self._spread)
        self._level += a * rc
        e = value - self._level - seasonal - (r - rc)
        near = i1 if w >= 0.5 else i0
        c = counts[near] = counts[near] + 1
        sa = 1.0 / (c + 1) if c * self.season_alpha < 1.0 else self.season_alpha
        season[i0] += sa * (1.0 - w) * e
        season[i1] += sa * w * e
        self._sum += sa * e

    def update(self, ts: float, value: float) -> float:
        """Score, then learn (the bank's per-reading path)."""
        score = self.score_one(ts, value)
        self.learn_one(ts, value)
        return score

    def _state(self) -> dict[str, Any]:
        return {
            "level": self._level,
            "spread": self._spread,
            "season": list(self._season),
            "sum": self._sum,
            "counts": list(self._counts),
            "n": self._n,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self._level = float(state["level"])
        self._spread = float(state["spread"])
        self._season = [float(v) for v in state["season"]]
        # the running sum as it was (bit-exact), or from the offsets for older states
        self._sum = float(state["sum"]) if "sum" in state else math.fsum(self._season)
        self._counts = [int(v) for v in state["counts"]]
        self._n = int(state["n"])
