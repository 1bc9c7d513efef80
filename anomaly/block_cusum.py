"""``Cusum`` and its ``SeasonalBaseline`` reference for many streams at once.

The arithmetic is that of :class:`anomaly.cusum.Cusum` (with ``max_hold=0``, as the
streams use it) and :class:`anomaly.seasonal.SeasonalBaseline`, operation for
operation, on the rows ``idx`` of per-slot columns; ``tests/anomaly/test_block.py``
holds the two to the same results.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from anomaly.columns import Columns, Field
from anomaly.seasonal import _MAD_TO_SIGMA

F8, I8 = np.float64, np.int64
Ix = np.ndarray


class CusumColumns(Columns):
    """Reference (level, spread, hour-of-day offsets) and the two CUSUM sums per slot."""

    BUCKETS = 24
    PERIOD_S = 86400.0
    FIELDS: ClassVar[dict[str, Field]] = {
        "level": (0.0, (), F8), "spread": (0.0, (), F8), "season": (0.0, (BUCKETS,), F8),
        "counts": (0, (BUCKETS,), I8), "total": (0.0, (), F8), "n": (0, (), I8),
        "up": (0.0, (), F8), "down": (0.0, (), F8), "last_z": (0.0, (), F8),
    }  # fmt: skip

    def __init__(self, capacity: int = 0, *, k: float = 0.5, alpha: float = 0.003,
                 warmup: int = 144, direction: str = "both", z_cap: float = 4.0,
                 relearn: float = 2.0, season_alpha: float = 0.1, clip: float = 3.0,
                 min_scale: float = 1e-9, min_count: int = 12) -> None:  # fmt: skip
        super().__init__(capacity)
        self.k, self.alpha, self.warmup, self.direction = k, alpha, warmup, direction
        self.z_cap, self.relearn, self.season_alpha = z_cap, relearn, season_alpha
        self.clip, self.min_scale, self.min_count = clip, min_scale, min_count

    # -- the reference ----------------------------------------------------------------

    def where(self, ts: np.ndarray) -> tuple[Ix, Ix, np.ndarray]:
        b = self.BUCKETS
        p = (ts % self.PERIOD_S) / self.PERIOD_S * b - 0.5
        i = np.floor(p)
        i0 = i.astype(I8) % b
        return i0, (i0 + 1) % b, p - i

    def seasonal(self, idx: Ix, at: tuple[Ix, Ix, np.ndarray]) -> np.ndarray:
        i0, i1, w = at
        s0, s1 = self.season[idx, i0], self.season[idx, i1]
        return s0 + w * (s1 - s0)

    def offset(self, idx: Ix, at: tuple[Ix, Ix, np.ndarray]) -> np.ndarray:
        return self.seasonal(idx, at) - self.total[idx] / self.BUCKETS

    def expected(self, idx: Ix, at: tuple[Ix, Ix, np.ndarray]) -> np.ndarray:
        return self.level[idx] + self.seasonal(idx, at)

    def expected_mean(self, idx: Ix) -> np.ndarray:
        return self.level[idx] + self.total[idx] / self.BUCKETS

    def sigma(self, idx: Ix) -> np.ndarray:
        return self.spread[idx] * _MAD_TO_SIGMA + self.min_scale

    def warm(self, idx: Ix) -> np.ndarray:
        return self.n[idx] >= self.warmup

    def ready(self, idx: Ix, ts: np.ndarray) -> np.ndarray:
        b = self.BUCKETS
        bucket = np.floor((ts % self.PERIOD_S) / self.PERIOD_S * b).astype(I8) % b
        return (self.n[idx] >= self.warmup) & (self.counts[idx, bucket] >= self.min_count)

    def _learn_ref(self, idx: Ix, ts: np.ndarray, x: np.ndarray) -> None:
        first = self.n[idx] == 0
        self.level[idx[first]] = x[first]
        i0, i1, w = self.where(ts)
        level, spread = self.level[idx], self.spread[idx]
        n = self.n[idx] + 1
        a = np.where(n < 1.0 / self.alpha, 1.0 / n, self.alpha)
        seasonal = self.seasonal(idx, (i0, i1, w))
        r = x - level - seasonal
        bound = np.where(n > 10, self.clip * (spread * _MAD_TO_SIGMA + self.min_scale),
                         np.abs(r))  # fmt: skip
        rc = np.where(r > bound, bound, np.where(r < -bound, -bound, r))
        spread = spread + a * (np.abs(rc) - spread)
        level = level + a * rc
        e = x - level - seasonal - (r - rc)
        near = np.where(w >= 0.5, i1, i0)
        c = self.counts[idx, near] + 1
        self.counts[idx, near] = c
        sa = np.where(c * self.season_alpha < 1.0, 1.0 / (c + 1), self.season_alpha)
        self.season[idx, i0] += sa * (1.0 - w) * e
        self.season[idx, i1] += sa * w * e
        self.total[idx] += sa * e
        self.level[idx], self.spread[idx], self.n[idx] = level, spread, n

    def shift(self, idx: Ix, delta: np.ndarray) -> None:
        self.level[idx] += delta

    # -- the CUSUM --------------------------------------------------------------------

    def update(self, idx: Ix, ts: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``Cusum.update`` for each row: learn, then the sum toward ``direction``."""
        ready = self.ready(idx, ts)
        z = np.where(ready, (x - self.expected(idx, self.where(ts))) / self.sigma(idx), 0.0)
        zc = np.where(z > self.z_cap, self.z_cap, np.where(z < -self.z_cap, -self.z_cap, z))
        up_new, down_new = self.up[idx] + zc - self.k, self.down[idx] - zc - self.k
        up = np.where(ready, np.where(up_new > 0.0, up_new, 0.0), self.up[idx])
        down = np.where(ready, np.where(down_new > 0.0, down_new, 0.0), self.down[idx])
        self.up[idx], self.down[idx], self.last_z[idx] = up, down, z
        learn = ~ready | ((up < self.relearn) & (down < self.relearn))
        if learn.any():
            self._learn_ref(idx[learn], ts[learn], x[learn])
        if self.direction == "up":
            return up
        if self.direction == "down":
            return down
        return np.where(up > down, up, down)

    def accept(self, idx: Ix, level: np.ndarray) -> None:
        """Take ``level`` as the new normal where it is known and warm; reset the sums."""
        ok = (level == level) & self.warm(idx)
        rows = idx[ok]
        self.shift(rows, level[ok] - self.expected_mean(rows))
        self.up[idx] = 0.0
        self.down[idx] = 0.0

    def config(self) -> dict[str, Any]:
        return {"k": self.k, "alpha": self.alpha, "warmup": self.warmup}
