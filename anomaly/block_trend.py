"""``Trend`` for many streams at once: hourly bucket means, fits when a bucket closes.

The same arithmetic as :class:`anomaly.trend.Trend`. Each slot keeps its last
``window`` bucket means right-aligned (newest last, NaN where none); the fit runs on
the rows whose bucket closed in this batch, vectorised over those rows.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from anomaly.columns import Columns, Field

F8, I8 = np.float64, np.int64
NAN = float("nan")


class TrendColumns(Columns):
    """Per-slot trend state; ``update(idx, ts, d)`` returns the rows' current t."""

    SCALARS: ClassVar[dict[str, Field]] = {
        "bucket": (-1, (), I8), "bsum": (0.0, (), F8), "bcount": (0, (), I8),
        "length": (0, (), I8), "t": (0.0, (), F8), "slope": (0.0, (), F8),
        "rate": (0.0, (), F8), "level": (NAN, (), F8), "eta": (NAN, (), F8),
        "fits": (0, (), I8), "ramp": (0.0, (), F8),
    }  # fmt: skip

    def __init__(self, capacity: int = 0, *, window: int = 72, lag: int = 24,
                 bucket_s: float = 3600.0, limit: float = 0.0, direction: str = "up",
                 min_pairs: int = 12, step_veto: float = 0.5, quantile: float = 0.3,
                 accel_z: float = 3.0, ramp_n: int = 3,
                 ramp_z: float = 8.0) -> None:  # fmt: skip
        self.window, self.lag, self.bucket_s, self.limit = window, lag, bucket_s, limit
        self.direction, self.min_pairs, self.step_veto = direction, min_pairs, step_veto
        self.quantile, self.accel_z = quantile, accel_z
        self.ramp_n, self.ramp_z = ramp_n, ramp_z
        super().__init__(capacity)

    def fields(self) -> dict[str, Field]:
        return {**self.SCALARS, "means": (NAN, (self.window,), F8)}

    def update(self, idx: np.ndarray, ts: np.ndarray, d: np.ndarray) -> np.ndarray:
        b = np.floor(ts / self.bucket_s).astype(I8)
        old = self.bucket[idx]
        moved = b != old
        if moved.any():
            closing = moved & (old >= 0) & (b > old)
            if closing.any():
                self._close(idx[closing], b[closing])
            rows = idx[moved]
            self.bucket[rows], self.bsum[rows], self.bcount[rows] = b[moved], 0.0, 0
        self.bsum[idx] += d
        self.bcount[idx] += 1
        return self.t[idx]

    def _close(self, rows: np.ndarray, new_bucket: np.ndarray) -> None:
        count = self.bcount[rows]
        mean = np.where(count > 0, self.bsum[rows] / np.maximum(count, 1), NAN)
        gap = np.minimum(new_bucket - self.bucket[rows] - 1, self.window)
        plain = gap == 0
        m = self.means
        if plain.all():
            m[rows, :-1] = m[rows, 1:]
            m[rows, -1] = mean
        else:
            for r, g, v in zip(rows.tolist(), gap.tolist(), mean.tolist(), strict=True):
                kept = m[r, g + 1 :].copy() if g + 1 < self.window else m[r, :0]
                m[r, :] = NAN
                m[r, : len(kept)] = kept
                if g < self.window:
                    m[r, self.window - 1 - g] = v
        self.length[rows] = np.minimum(self.length[rows] + 1 + gap, self.window)
        self.ramp[rows] = self._ramp(self.means[rows])
        self._fit(rows, (self.bucket[rows] + 1 + gap) * self.bucket_s)

    def _ramp(self, means: np.ndarray) -> np.ndarray:
        """``Trend._ramp`` per row."""
        k = self.ramp_n
        if not k:
            return np.zeros(len(means))
        noise = _bucket_noise(means)
        now = self._climb(means[:, -k - 1 :], noise)
        before = self._climb(means[:, -k - 2 : -1], noise)
        return np.where(now < before, now, before)

    def _climb(self, last: np.ndarray, noise: np.ndarray) -> np.ndarray:
        k = last.shape[1] - 1
        sign = -1.0 if self.direction == "down" else 1.0
        steps = sign * (last[:, 1:] - last[:, :-1])
        total = sign * (last[:, -1] - last[:, 0])
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = (noise > 0.0) & (total > 0.0) & (steps.min(axis=1) >= 0.5 * total / k)
            ok &= np.all(last == last, axis=1)
            return np.where(ok, total / (self.ramp_z * noise), 0.0)

    # -- the fit ----------------------------------------------------------------------

    def _fit(self, rows: np.ndarray, now: np.ndarray) -> None:
        lag = self.lag
        means = self.means[rows]
        pairs = means[:, lag:] - means[:, :-lag]  # NaN where either bucket is missing
        ok = np.count_nonzero(pairs == pairs, axis=1) >= self.min_pairs
        rows, now, means, pairs = rows[ok], now[ok], means[ok], pairs[ok]
        if not len(rows):
            return
        self.fits[rows] += 1
        t, med = self._t_stat(pairs)
        self.slope[rows] = med / (lag * self.bucket_s / 86400.0)
        if self.step_veto:
            hot = t >= 1.0
            if hot.any():
                t[hot] = self._without_step(means[hot], pairs[hot], t[hot])
        self.t[rows] = t
        self.level[rows] = _seq_mean(means[:, -lag:])
        self._eta(rows, means, now - lag * self.bucket_s / 2.0)

    def _t_stat(self, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(t toward ``direction``, median) per row, from its valid pair differences."""
        diffs = np.sort(pairs, axis=1)  # NaN sort last
        n = np.count_nonzero(diffs == diffs, axis=1)
        at = np.arange(len(diffs))
        med = diffs[at, n // 2]
        spread = (diffs[at, (3 * n) // 4] - diffs[at, n // 4]) / 1.349
        se = (spread + 1e-12) / np.sqrt(n)
        qi = (self.quantile * n).astype(I8)
        if self.direction == "up":
            t = diffs[at, qi] / se
        elif self.direction == "down":
            t = -diffs[at, n - 1 - qi] / se
        else:
            return np.abs(med / se), med
        return np.where(t > 0.0, t, 0.0), med

    def _without_step(self, means: np.ndarray, pairs: np.ndarray, t: np.ndarray) -> np.ndarray:
        ratio, split = best_steps(means)
        steppy = ratio < self.step_veto
        if not steppy.any():
            return t
        start = np.arange(pairs.shape[1])
        across = (start[None, :] < split[:, None]) & (split[:, None] <= start[None, :] + self.lag)
        kept = np.where(across, NAN, pairs)[steppy]
        enough = np.count_nonzero(kept == kept, axis=1) >= self.min_pairs
        again = np.zeros(len(kept))
        if enough.any():
            again[enough] = self._t_stat(kept[enough])[0]
        out = t.copy()
        out[steppy] = again
        return out

    def _eta(self, rows: np.ndarray, means: np.ndarray, level_ts: np.ndarray) -> None:
        level = self.level[rows]
        slope = self.slope[rows]
        sign = np.where(self.limit >= level, 1.0, -1.0)
        room = sign * (self.limit - level)
        speed, accel = self._motion(rows, means, sign)
        known = speed == speed
        self.rate[rows] = np.where(known, sign * speed, slope)
        speed = np.where(known, speed, sign * slope)
        accel = np.where(known, accel, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            curved = (-speed + np.sqrt(speed * speed + 2.0 * accel * room)) / accel
            days = np.where(accel > 0.0, curved, np.where(speed > 0.0, room / speed, NAN))
        self.eta[rows] = np.where(level == level, level_ts + days * 86400.0, NAN)

    def _motion(
        self, rows: np.ndarray, means: np.ndarray, sign: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        lag = self.lag
        speed, accel = np.full(len(rows), NAN), np.zeros(len(rows))
        blocks = [means[:, self.window - k * lag : self.window - (k - 1) * lag] for k in (3, 2, 1)]
        counts = [np.count_nonzero(b == b, axis=1) for b in blocks]
        ok = (self.length[rows] >= 3 * lag) & np.all([c >= lag // 2 for c in counts], axis=0)
        if not ok.any():
            return speed, accel
        b0, b1, b2 = (_seq_mean(b[ok]) for b in blocks)
        noise = _bucket_noise(means[ok])
        var = [noise * noise / c[ok] for c in counts]
        days = lag * self.bucket_s / 86400.0
        v_old, v_new = sign[ok] * (b1 - b0), sign[ok] * (b2 - b1)
        a = (v_new - v_old) / (days * days)
        se = np.sqrt(var[0] + 4.0 * var[1] + var[2]) / (days * days)
        significant = a >= self.accel_z * se
        speed[ok] = np.where(significant, v_new / days + a * days / 2.0, v_new / days)
        accel[ok] = np.where(significant, a, 0.0)
        return speed, accel


def _seq_mean(values: np.ndarray) -> np.ndarray:
    """Row means of the valid entries, summed left to right (NaN where none)."""
    valid = values == values
    total = np.cumsum(np.where(valid, values, 0.0), axis=1)[:, -1]
    count = np.count_nonzero(valid, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, NAN)


def _bucket_noise(means: np.ndarray) -> np.ndarray:
    steps = np.sort(np.abs(means[:, 1:] - means[:, :-1]), axis=1)
    n = np.count_nonzero(steps == steps, axis=1)
    mid = steps[np.arange(len(steps)), np.minimum(n // 2, steps.shape[1] - 1)]
    return np.where(n > 0, 1.4826 * mid / math.sqrt(2.0), 0.0)


def best_steps(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``trend.best_step`` per row over its valid values: (ratio, column of the step)."""
    order = np.argsort(means != means, axis=1, kind="stable")  # valid first, in order
    ys = np.take_along_axis(means, order, axis=1)
    n = np.count_nonzero(ys == ys, axis=1)
    valid = np.arange(ys.shape[1])[None, :] < n[:, None]
    ys = np.where(valid, ys, 0.0)
    cum = np.cumsum(ys, axis=1)
    rows = np.arange(len(ys))
    total = cum[rows, np.maximum(n - 1, 0)]
    with np.errstate(invalid="ignore", divide="ignore"):
        my, mx = total / n, (n - 1) / 2.0
        dev = np.where(valid, ys - my[:, None], 0.0)
        sst = np.cumsum(dev * dev, axis=1)[rows, np.maximum(n - 1, 0)]
        pos = np.arange(ys.shape[1])[None, :] - mx[:, None]
        sxy = np.cumsum(np.where(valid, pos * dev, 0.0), axis=1)[rows, np.maximum(n - 1, 0)]
        sxx = n * (n * n - 1) / 12.0
        sse_line = sst - sxy * sxy / sxx
        k = np.arange(2, ys.shape[1] - 1)[None, :]
        prefix = cum[:, 1:-2]
        m1, m2 = prefix / k, (total[:, None] - prefix) / (n[:, None] - k)
        d1, d2 = m1 - my[:, None], m2 - my[:, None]
        sse = sst[:, None] - k * (d1 * d1) - (n[:, None] - k) * (d2 * d2)
    sse = np.where(k <= n[:, None] - 2, sse, np.inf)
    at = np.argmin(sse, axis=1)
    best = sse[rows, at]
    better = best < sst
    ratio = np.where(sse_line > 1e-12, np.where(better, best, sst) / sse_line, 1.0)
    column = order[rows, np.where(better, at + 2, 0)]
    short = n < 8
    return np.where(short, 1.0, ratio), np.where(short, 0, column)
