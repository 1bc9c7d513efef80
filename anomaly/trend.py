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

import numpy as np
from numba import njit

from anomaly.stateful import Stateful

_NAN = float("nan")


def best_step(ys: list[float]) -> tuple[float, int]:
    """Squared error of the best single step over that of the least-squares line (small,
    say < 0.35, when the window holds a level shift rather than a trend), and where the
    best step starts (index of its first later value).

    >>> ratio, at = best_step([0.0] * 12 + [1.0] * 8)
    >>> round(ratio, 3), at
    (0.0, 12)
    """
    ratio, at = best_step_array(np.asarray(ys, dtype=np.float64))
    return float(ratio), int(at)


@njit(cache=True, error_model="numpy")
def best_step_array(ys: np.ndarray) -> tuple[float, int]:  # shared with the fleet kernel
    """The best single step over the least-squares line, for an array of values."""
    n = len(ys)
    if n < 8:
        return 1.0, 0
    total = 0.0
    for y in ys:
        total += y
    my, mx = total / n, (n - 1) / 2.0
    sst, sxy = 0.0, 0.0
    for i in range(n):
        sst += (ys[i] - my) * (ys[i] - my)
        sxy += (i - mx) * (ys[i] - my)
    sxx = n * (n * n - 1) / 12.0
    sse_line = sst - sxy * sxy / sxx
    best, at = _step_sse(ys, total, sst)
    return (best / sse_line if sse_line > 1e-12 else 1.0), at


@njit(cache=True, error_model="numpy")
def _step_sse(ys: np.ndarray, total: float, sst: float) -> tuple[float, int]:
    """The squared error of the best single step in ``ys`` (their sum ``total``, their
    squared deviations from the mean ``sst``) and where it starts."""
    n = len(ys)
    my = total / n
    best, at, prefix = sst, 0, ys[0] + ys[1]
    for k in range(2, n - 1):
        m1, m2 = prefix / k, (total - prefix) / (n - k)
        d1, d2 = m1 - my, m2 - my
        sse = sst - k * (d1 * d1) - (n - k) * (d2 * d2)
        if sse < best:
            best, at = sse, k
        prefix += ys[k]
    return best, at


@njit(cache=True, error_model="numpy")
def best_bend_array(ys: np.ndarray, run: int) -> tuple[float, int, float, float]:  # kernel too
    """The best line that is flat and then bends once into a slope (``a + b * max(0, i -
    k)``, with at least ``run`` values after the bend ``k >= 1``): the squared error of
    the best single step over its own (large when a creep began inside the window, small
    for a level shift), ``k``, ``b`` and its own squared error. ``(0, 0, 0, 0)`` when the
    window is too short.

    >>> ratio, k, b, sse = best_bend_array(np.array([0.0] * 8 + [0.5 * i for i in range(16)]), 12)
    >>> ratio > 10.0, k, round(b, 3), round(sse, 6)
    (True, 8, 0.5, 0.0)
    """
    n = len(ys)
    if n < 8 or n - 1 - run < 1:
        return 0.0, 0, 0.0, 0.0
    total = 0.0
    for y in ys:
        total += y
    my = total / n
    sst = 0.0
    for y in ys:
        sst += (y - my) * (y - my)
    step = _step_sse(ys, total, sst)[0]
    best, at, slope = sst, 0, 0.0
    for k in range(1, n - run):
        m = n - 1 - k  # x = 1..m after the bend
        sx = m * (m + 1) / 2.0
        sxx = m * (m + 1) * (2 * m + 1) / 6.0 - sx * sx / n
        sxy = 0.0
        for i in range(k + 1, n):
            sxy += (i - k) * (ys[i] - my)
        if sxx <= 0.0:
            continue
        sse = sst - sxy * sxy / sxx
        if sse < best:
            best, at, slope = sse, k, sxy / sxx
    if at == 0:
        return 0.0, 0, 0.0, 0.0
    return (step / best if best > 1e-12 else 1e12), at, slope, best


def _iqr(d: list[float]) -> float:
    """The interquartile range of sorted ``d`` as a normal sigma."""
    n = len(d)
    return (d[(3 * n) // 4] - d[n // 4]) / 1.349


def _spread(pairs: list[tuple[int, float]]) -> float:
    """The sigma (interquartile range) of day-lag differences about their least-squares
    line over the pairs' starts.

    The differences of a fault that accelerates grow from pair to pair: their plain
    spread is the acceleration, not noise, and holds the t down until the earliest pair
    is past the onset, whatever the fault's size. About a line the growth is gone and
    what is left is the unit's noise and its own wander within the window.
    """
    n, s0 = len(pairs), pairs[0][0]
    ms, md = 0.0, 0.0
    for i, d in pairs:
        ms += i - s0
        md += d
    ms, md = ms / n, md / n
    sxx, sxy = 0.0, 0.0
    for i, d in pairs:
        sxx += (i - s0 - ms) * (i - s0 - ms)
        sxy += (i - s0 - ms) * (d - md)
    b = sxy / sxx if sxx > 0.0 else 0.0
    return _iqr(sorted(d - md - b * (i - s0 - ms) for i, d in pairs))


def _bucket_noise(means: list[float]) -> float:
    """Noise of one bucket mean: the robust spread of consecutive differences / sqrt 2."""
    steps = sorted(abs(b - a) for a, b in zip(means, means[1:], strict=False) if a == a and b == b)
    if not steps:
        return 0.0
    return 1.4826 * steps[len(steps) // 2] / math.sqrt(2.0)


CREEP_N, CREEP_Z, CREEP_LINE, CREEP_ROOM = 24, 8.0, 1.5, 0.12  # see _creep
# a creep that began inside the window: this many buckets after its bend, its fit this
# many times better than one step's (the bend is one more choice than a line), and what
# it leaves within this many bucket noises (RMS): nothing else moved the day
BEND_RUN, BEND_LINE, BEND_FIT = 8, 2.5, 1.5
# the two-day fit (Trend._fast) counts only when its buckets bend at least this much
# better than they step (best_bend_array): a step within the last day moves most of its
# 24 pairs, which no quantile of them can ignore
FAST_BEND = 1.0
# ... and only while it still rises: the last half-day's move toward the limit is at
# least this share of the half-day's before (Trend._fast, _stalled): a day after a
# step the means have stopped, a fault's keep going
FAST_KEEP, HALF_DAY = 0.25, 12
WANDER_FITS, WANDER_N = 72, 168  # Trend._wander: from the third day of fits, over a week
WANDER_OWN = 9.0  # a move toward the limit over this many times dl_var is not learned
# ... until the last day's mean has come back this share of the largest such move, within
# WANDER_HOLD fits of the last one withheld: a spell the unit came back from was its own
# wander after all (a lone unit's weather), learned then; a fault's move stays out
WANDER_BACK, WANDER_HOLD = 0.5, 48
RAMP_FLOOR = 0.4  # a ramp's noise is at least this share of one reading's sigma


def _creep(
    last: list[float], direction: str, noise: float, limit: float, least: float, spread: float
) -> float:
    """Rise of a least-squares line through ``last`` in ``CREEP_Z`` noises, when a line
    explains it better than one step (``best_step`` ratio at least ``CREEP_LINE``), each
    half of the window rises by at least a quarter of the total, and the rise is at
    least ``CREEP_ROOM`` of the room from the window's start to ``limit`` (a device's
    own slow wander is clear in the noise of hourly means, but small in the room) and
    ``least`` (the owner's day-to-day wander times ``ramp_wander_z``: a climb that this
    unit makes by itself, as a lone unit does in the weather, is no creep).

    A creep that began inside the window (flat, then a line: ``_bent``) counts the same
    way over the part after its bend; ``spread`` is the noise of one hourly mean as
    measured (``noise`` may be a floor above it)."""
    n = len(last)
    if noise <= 0.0 or any(m != m for m in last):
        return 0.0
    sign = -1.0 if direction == "down" else 1.0
    mx, my = (n - 1) / 2.0, sum(last) / n
    sxy = sum((i - mx) * (m - my) for i, m in enumerate(last))
    rise = sign * sxy / (n * (n * n - 1) / 12.0) * (n - 1)
    line = _rises(last, rise, sign, least) and _big(last, rise, limit)
    if line and best_step(last)[0] >= CREEP_LINE:
        return rise / (CREEP_Z * noise)
    return _bent(last, sign, noise, limit, least, spread)


def _rises(seg: list[float], rise: float, sign: float, least: float) -> bool:
    """``rise`` is toward the limit, at least ``least``, and each half of ``seg`` carries a
    quarter of it (a line, not a step or a bend back)."""
    first, second = _halves(seg, sign)
    return rise > 0.0 and rise >= least and min(first, second) >= 0.25 * rise


def _halves(seg: list[float], sign: float) -> tuple[float, float]:
    """The rise toward the limit over each half of ``seg`` (means of 3 values at its
    ends and its middle)."""
    half = len(seg) // 2
    first = sign * (sum(seg[half - 3 : half]) - sum(seg[:3])) / 3.0
    second = sign * (sum(seg[-3:]) - sum(seg[half - 3 : half])) / 3.0
    return first, second


def _big(last: list[float], rise: float, limit: float) -> bool:
    return rise >= CREEP_ROOM * abs(limit - last[0])


def _bent(
    last: list[float], sign: float, noise: float, limit: float, least: float, spread: float
) -> float:
    """A creep that began inside the window: the best bend (``best_bend_array``: flat,
    then a line over at least ``BEND_RUN`` buckets) explains the window ``BEND_LINE``
    times better than one step (more than a straight line must: the bend is chosen
    too), and the line after the bend rises as ``_creep`` asks of a whole window's
    (each of its halves at half its rate at least: ``_steady``). A
    motor that starts to overheat 18 hours before it trips leaves the first hours of
    the day flat: a straight line through them all is no fit, a step fits better
    still, but the bend fits best, to within the hourly means' own noise (``spread``,
    ``BEND_FIT``; not the floor a sample-and-hold sensor's ramps get).
    A unit alone in its region bends with each weather front, but the front's day
    wanders before and after; its own day-to-day wander (``least``), that fit and the
    margin over a step keep those out."""
    n = len(last)
    ratio, k, slope, sse = best_bend_array(np.asarray(last, dtype=np.float64), BEND_RUN)
    if k == 0 or ratio < BEND_LINE or sse > (n - 3) * (BEND_FIT * spread) ** 2:
        return 0.0
    rise = sign * slope * (n - 1 - k)
    if rise <= 0.0 or rise < least or not _big(last, rise, limit):
        return 0.0
    return rise / (CREEP_Z * noise) if _steady(last[k:], rise, sign) else 0.0


def _bends(means: list[float]) -> bool:
    """The buckets (those not NaN) bend into a line (``best_bend_array``) ``FAST_BEND``
    times better than they step: a rise, not a level shift."""
    ys = np.asarray([m for m in means if m == m], dtype=np.float64)
    return bool(best_bend_array(ys, BEND_RUN)[0] >= FAST_BEND)


def _stalled(means: list[float], sign: float) -> bool:
    """The last ``HALF_DAY`` buckets moved toward ``sign`` less than ``FAST_KEEP`` of what
    the ``HALF_DAY`` before them did (their means, NaN left out; False without enough
    of them or a direction)."""
    n = len(means)
    if sign == 0.0 or n < 3 * HALF_DAY:
        return False
    thirds = [
        [m for m in means[n - (3 - j) * HALF_DAY : n - (2 - j) * HALF_DAY] if m == m]
        for j in range(3)
    ]
    if min(len(x) for x in thirds) < HALF_DAY // 2:
        return False
    a, b, c = (sum(x) / len(x) for x in thirds)
    return bool(sign * (c - b) < FAST_KEEP * sign * (b - a))


def _steady(seg: list[float], rise: float, sign: float) -> bool:
    """Each half of ``seg`` (``_halves``) rises at no less than half the rate of ``rise``
    over the whole: a line, not a step at its end."""
    n, half = len(seg), len(seg) // 2
    first, second = _halves(seg, sign)
    rate = 0.5 * rise / (n - 1)
    return first >= rate * (half - 3) and second >= rate * (n - half)


def _climb(
    last: list[float], direction: str, noise: float, ramp_z: float, least: float = 0.0
) -> float:
    """Rise over ``last`` in ``ramp_z`` noises if every step carries half its share and
    the rise is at least ``least`` (see ``_creep``)."""
    if any(m != m for m in last):
        return 0.0
    k, sign = len(last) - 1, -1.0 if direction == "down" else 1.0
    steps = [sign * (b - a) for a, b in zip(last, last[1:], strict=False)]
    total = sign * (last[-1] - last[0])
    if noise <= 0.0 or total <= 0.0 or total < least or min(steps) < 0.5 * total / k:
        return 0.0
    return total / (ramp_z * noise)


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
        "bucket_s",
        "window",
        "fit",
        "lag",
        "limit",
        "direction",
        "min_pairs",
        "step_veto",
        "veto_bend",
        "quantile",
        "accel_z",
        "ramp_n",
        "ramp_z",
        "motion_n",
        "coupling",
        "fit_fast",
        "fast_coupling",
        "ramp_wander_z",
        "detrend",
        "accel_soft",
        "ramp",
        "noise_floor",
        "_noise",
        "_bucket",
        "_sum",
        "_count",
        "_csum",
        "_means",
        "_commons",
        "_t",
        "t_fast",
        "dl",
        "dl_var",
        "_held_sq",
        "_held_n",
        "_held_dl",
        "_held_at",
        "slope_per_day",
        "rate_per_day",
        "level",
        "eta_ts",
        "fits",
    )

    def __init__(
        self,
        bucket_s: float = 3600.0,
        window: int = 72,
        lag: int = 24,
        limit: float | None = None,
        direction: str = "both",
        min_pairs: int = 24,
        step_veto: float = 0.0,
        veto_bend: float = 0.0,
        quantile: float = 0.5,
        accel_z: float = 3.0,
        ramp_n: int = 3,
        ramp_z: float = 8.0,
        motion_n: int = 24,
        fit: int | None = None,
        coupling: float = 0.0,
        fit_fast: int = 0,
        fast_coupling: float = 0.0,
        ramp_wander_z: float = 0.0,
        detrend: float = 0.0,
        accel_soft: float = 0.0,
    ) -> None:
        self.bucket_s = bucket_s
        self.window = window
        self.fit = window if fit is None else fit  # the fit's pairs lie within the last fit
        self.lag = lag
        self.limit = limit
        self.direction = direction
        self.min_pairs = min_pairs
        self.step_veto = step_veto
        self.veto_bend = veto_bend  # > 0: a window that bends this much better is no step
        self.quantile = quantile
        self.accel_z = accel_z
        self.motion_n = motion_n
        self.ramp_n = ramp_n
        self.ramp_z = ramp_z
        self.coupling = coupling  # share of the common movement's differences (_uncoupled)
        self.fit_fast = fit_fast  # the two-day fit's window (_fast), 0: none
        self.fast_coupling = fast_coupling  # its share of the common movement's
        self.ramp_wander_z = ramp_wander_z  # a ramp rises this many times dl_var's root
        self.detrend = detrend  # > 0: the t's spread is about a line over time (_spread)
        self.accel_soft = accel_soft  # > 0: from this z the acceleration counts in part
        self.ramp = 0.0
        self.noise_floor = 0.0  # the owner's reading sigma times RAMP_FLOOR (see _ramp)
        self._noise = 0.0
        self._bucket = -1
        self._sum = 0.0
        self._count = 0
        self._csum = 0.0
        self._means: list[float] = []
        self._commons: list[float] = []  # the common movement's bucket means, aligned
        self._t = 0.0
        self.t_fast = 0.0  # the t of the last ``fit_fast`` buckets (see _fast)
        self.dl = 0.0  # the last day's mean less the day's before, toward direction
        self.dl_var = 0.0  # the running mean square of dl: this unit's own day-to-day wander
        # the moves toward the limit not learned yet (_wander): their sum of squares,
        # number, largest and the fit of the last
        self._held_sq, self._held_n, self._held_dl, self._held_at = 0.0, 0, 0.0, 0
        self.slope_per_day = 0.0
        self.rate_per_day = 0.0
        self.fits = 0
        self.level = _NAN
        self.eta_ts: float | None = None

    def score_one(self, ts: float, value: float) -> float:
        return self._t

    def learn_one(self, ts: float, value: float, common: float = 0.0) -> None:
        """Add ``value`` to its bucket, and ``common``: the movement a cohort filter in
        front took out of it (see ``_uncoupled``)."""
        b = int(ts // self.bucket_s)
        if b != self._bucket:
            if self._bucket >= 0 and b > self._bucket:
                self._close(b)
            self._bucket = b
            self._sum = 0.0
            self._count = 0
            self._csum = 0.0
        self._sum += value
        self._count += 1
        self._csum += common

    def update(self, ts: float, value: float, common: float = 0.0) -> float:
        self.learn_one(ts, value, common)
        return self._t

    def forget(self) -> None:
        """Drop the bucket means (the level before a shift that became the new normal);
        the current bucket, ``level`` and the last ``eta_ts`` stay until the next fit."""
        self._means = []
        self._commons = []
        self._t = 0.0
        self.t_fast = 0.0
        self.ramp = 0.0
        self.drop_held()

    def drop_held(self) -> None:
        """The moves held out of the wander (``_wander``) are no longer learned: they
        were a fault's (a case is open on them, and a repair may end them) or are
        before a new normal."""
        self._held_sq, self._held_n, self._held_dl = 0.0, 0, 0.0

    def _close(self, new_bucket: int) -> None:
        gap = min(new_bucket - self._bucket - 1, self.window)
        for means, total in ((self._means, self._sum), (self._commons, self._csum)):
            means.append(total / self._count if self._count else _NAN)
            means.extend([_NAN] * gap)
            if len(means) > self.window:
                del means[: len(means) - self.window]
        self._noise = _bucket_noise(self._means)  # shared by the ramp and the ETA of this close
        self.ramp = self._ramp()
        self._fit((self._bucket + 1 + gap) * self.bucket_s)

    def _ramp(self) -> float:
        """A steady climb toward ``direction``: the hourly means keep rising.

        Over ``ramp_n + 1`` bucket means, the rise from first to last in units of
        ``ramp_z`` bucket noises, when every one of the ``ramp_n`` steps carries at least
        half its share of it (a ramp, not a jump); the smaller of that figure for the
        window ending now and the one ending a bucket earlier (the climb goes on). A
        fault that creeps up for a few hours before it trips shows here long before a
        day-lag trend can. A slower creep over the last day (``_creep``: a straight
        line, not a step, rising ``CREEP_Z`` bucket noises) counts as a ramp too: a
        motor that overheats for a day or two before it trips (a whole day, because
        half a day of an imperfectly learned daily cycle is a line too), and so does one
        that began within the day (``_bent``: flat, then a line over at least
        ``BEND_RUN`` buckets, which fits the day far better than one step does). The
        noise is never taken below ``noise_floor`` (set by the owner from one reading's
        sigma): hourly means of a sample-and-hold sensor ramp between its jumps while the
        daily cycle moves under a held value, by up to its deadband, which is no fault.
        """
        k, means = self.ramp_n, self._means
        if not k or len(means) < k + 2:
            return 0.0
        noise = max(self._noise, self.noise_floor)
        least = self.ramp_wander_z * math.sqrt(self.dl_var)  # a rise it makes by itself
        short = min(
            _climb(means[-k - 1 :], self.direction, noise, self.ramp_z, least),
            _climb(means[-k - 2 : -1], self.direction, noise, self.ramp_z, least),
        )
        if len(means) < CREEP_N or self.limit is None:
            return short
        creep = _creep(means[-CREEP_N:], self.direction, noise, self.limit, least, self._noise)
        return max(short, creep)

    def _pairs(self, fit: int) -> list[tuple[int, float]]:
        """(start, day-lag difference) of the pairs within the last ``fit`` buckets."""
        means, lag = self._means, self.lag
        return [
            (i, means[i + lag] - means[i])
            for i in range(max(len(means) - fit, 0), len(means) - lag)
            if means[i] == means[i] and means[i + lag] == means[i + lag]
        ]

    def _fit(self, now: float) -> None:
        means, lag = self._means, self.lag
        pairs = self._pairs(self.fit)
        if len(pairs) < self.min_pairs:
            return
        self.fits += 1
        self._t, med = self._t_stat(pairs)
        self.slope_per_day = med / (lag * self.bucket_s / 86400.0)
        if self.coupling > 0.0:
            pairs = self._uncoupled(pairs, self.coupling)
            self._t = self._t_stat(pairs)[0]
        if self.step_veto and self._t >= 1.0:
            self._t = self._without_step(pairs, self._t)
        recent = [m for m in means[-lag:] if m == m]
        self.level = sum(recent) / len(recent) if recent else _NAN
        self._wander(recent)
        self.t_fast = self._fast() if self.fit_fast else 0.0
        self.eta_ts = self._eta(now - lag * self.bucket_s / 2.0)

    def _toward(self) -> float:
        """+1 toward an upper limit, -1 toward a lower one, 0 for ``both``."""
        return 1.0 if self.direction == "up" else (-1.0 if self.direction == "down" else 0.0)

    def _wander(self, last: list[float]) -> None:
        """``dl``: the mean of the last ``lag`` buckets (``last``, the level's) less the
        mean of the ``lag`` before, toward ``direction``; ``dl_var``: its mean square
        since the third day of fits (a running mean, then an exponential one over a
        week of fits, a square over nine times the mean capped; a move toward the limit
        over ``WANDER_OWN`` times the mean is not learned: a fault's own days would
        raise the wander the gates measure it against). A unit whose level wanders on
        its own over days shows it here, before any fault does.

        A move held out that way is learned after all once the last day's mean has
        come back ``WANDER_BACK`` of the largest of them, within ``WANDER_HOLD`` fits
        of the last: a spell the unit returned from was its own wander (a unit alone
        in its region, whose weather no peers cancel, had a calm first week and
        under-read it), while a fault does not come back by itself."""
        lag, means = self.lag, self._means
        if len(means) < 2 * lag or self.fits < WANDER_FITS:
            return
        before = [m for m in means[-2 * lag : -lag] if m == m]
        if len(before) < lag // 2 or len(last) < lag // 2:
            return
        self.dl = dl = self._toward() * (sum(last) / len(last) - sum(before) / len(before))
        n = self.fits - WANDER_FITS + 1
        a = 1.0 / n if n < WANDER_N else 1.0 / WANDER_N
        sq = dl * dl
        if n > 24 and dl > 0.0 and sq > WANDER_OWN * self.dl_var:
            # a move toward the limit this far out is no wander to learn (a fault's)
            # unless the unit comes back from it
            self._held_sq += sq
            self._held_n += 1
            self._held_dl = dl if dl > self._held_dl else self._held_dl
            self._held_at = self.fits
            return
        if self._held_n and self.fits - self._held_at > WANDER_HOLD:
            self.drop_held()
        if self._held_n and dl <= -WANDER_BACK * self._held_dl:
            held = self._held_sq / self._held_n  # the hours held out, learned now
            for _ in range(self._held_n):
                self.dl_var += (held - self.dl_var) * a
            self.drop_held()
        if n > 24 and sq > 9.0 * self.dl_var:
            sq = 9.0 * self.dl_var
        self.dl_var += (sq - self.dl_var) * a

    def _fast(self) -> float:
        """The t of the pairs within the last ``fit_fast`` buckets (two days), each
        difference less ``fast_coupling`` of the common's over the same pair, with the
        step veto: a fault that accelerates shows here a day before the whole window's
        t, whose earlier pairs still hold the days before it. It counts only when its
        buckets bend rather than step (``_bends``): a day after a step most of its
        pairs straddle it, which no quantile of them can ignore; and only while they
        still rise (``_stalled``): by then a step's last half-day has stopped."""
        pairs = self._pairs(self.fit_fast)
        if len(pairs) < self.min_pairs:
            return 0.0
        if self.fast_coupling > 0.0:
            pairs = self._uncoupled(pairs, self.fast_coupling)
        t = self._t_stat(pairs)[0]
        if self.step_veto and t >= 1.0:
            t = self._without_step(pairs, t)
        if t >= 1.0 and not _bends(self._means[-self.fit_fast :]):
            return 0.0
        if t >= 1.0 and _stalled(self._means, self._toward()):
            return 0.0
        return t

    def _uncoupled(
        self, pairs: list[tuple[int, float]], coupling: float
    ) -> list[tuple[int, float]]:
        """Each day-lag difference less ``coupling`` of the cohort's common movement over
        the same pair, toward ``direction``.

        The cohort filter takes the common movement out with the coupling it learned for
        this device; weather that moves this unit a little more or less than that leaves
        a share of its movement in, and over a spell of days that share is a trend in
        the differences. A difference counts toward the trend only by what such a
        coupling error cannot explain. A pair whose common buckets are missing stays.
        """
        sign = self._toward()
        commons, lag, out = self._commons, self.lag, []
        for i, d in pairs:
            a, b = commons[i], commons[i + lag]
            if a == a and b == b:
                d -= sign * coupling * abs(b - a)
            out.append((i, d))
        return out

    def _without_step(self, pairs: list[tuple[int, float]], t: float) -> float:
        """The t again without the pairs across a jump, when one explains the window best.

        A level shift (a benign change) moves every difference taken across it; a trend
        also moves the differences on either side of it.
        """
        valid = [i for i, m in enumerate(self._means) if m == m]
        ys = np.asarray([self._means[i] for i in valid], dtype=np.float64)
        ratio, k = best_step_array(ys)
        if ratio >= self.step_veto:
            return t
        if self.veto_bend > 0.0 and best_bend_array(ys, BEND_RUN)[0] >= self.veto_bend:
            return t  # flat, then a line: the knee of a fault that accelerates, no step
        split, lag = valid[k], self.lag
        kept = [(i, d) for i, d in pairs if not i < split <= i + lag]
        return self._t_stat(kept)[0] if len(kept) >= self.min_pairs else 0.0

    def _t_stat(self, pairs: list[tuple[int, float]]) -> tuple[float, float]:
        """(t toward ``direction``, median) of the pairs' differences.

        The t uses the ``quantile`` of the differences, below the median on purpose: a
        level shift makes up to half of them straddle it, which moves the median by the
        whole shift but a lower quantile hardly at all; a real trend moves them all.
        Its standard error is the differences' spread (interquartile range), or with
        ``detrend`` their spread about a straight line over time (``_spread``), never
        under ``1 - detrend`` of the plain one.
        """
        diffs = sorted(d for _, d in pairs)
        n, q = len(diffs), self.quantile
        med = diffs[n // 2]
        spread = _iqr(diffs)
        if self.detrend > 0.0:  # about a line, never under (1 - detrend) of the plain spread
            spread = max(_spread(pairs), (1.0 - self.detrend) * spread)
        se = (spread + 1e-12) / math.sqrt(n)
        if self.direction == "up":
            return max(diffs[int(q * n)] / se, 0.0), med
        if self.direction == "down":
            return max(-diffs[n - 1 - int(q * n)] / se, 0.0), med
        return abs(med / se), med

    def _eta(self, level_ts: float) -> float | None:
        """When the limit will be crossed, from the level at ``level_ts`` onward.

        With three whole periods of ``motion_n`` buckets in the window, their means give
        the speed and the acceleration toward the limit (degradation usually accelerates: a
        straight line
        through a wearing part's history forecasts its end far too late); a motion that
        slows down is extrapolated at its current speed. Otherwise the robust slope.
        """
        self.rate_per_day = self.slope_per_day
        if self.limit is None or self.level != self.level:
            return None
        sign = 1.0 if self.limit >= self.level else -1.0
        room = sign * (self.limit - self.level)
        speed, accel = self._motion()
        if speed != speed:
            speed, accel = sign * self.slope_per_day, 0.0
        else:
            self.rate_per_day = sign * speed
        if accel > 0.0:
            days = (-speed + math.sqrt(speed * speed + 2.0 * accel * room)) / accel
        elif speed > 0.0:
            days = room / speed
        else:
            return None
        return level_ts + days * 86400.0

    def _motion(self) -> tuple[float, float]:
        """(speed, acceleration) toward the limit per day at the last period's centre.

        The acceleration counts only when it stands out of the noise of the period
        means by ``accel_z`` standard errors (the noise from consecutive bucket means);
        a slow, steady drift is not an accelerating one.
        """
        lag, means = self.motion_n, self._means
        if len(means) < 3 * lag:
            return _NAN, 0.0
        blocks, var = [], []
        noise = self._noise
        for k in (3, 2, 1):
            vals = [m for m in means[len(means) - k * lag : len(means) - (k - 1) * lag] if m == m]
            if len(vals) < lag // 2:
                return _NAN, 0.0
            blocks.append(sum(vals) / len(vals))
            var.append(noise * noise / len(vals))
        days = lag * self.bucket_s / 86400.0
        sign = 1.0 if (self.limit or 0.0) >= self.level else -1.0
        v_old, v_new = sign * (blocks[1] - blocks[0]), sign * (blocks[2] - blocks[1])
        accel = (v_new - v_old) / (days * days)
        se = math.sqrt(var[0] + 4.0 * var[1] + var[2]) / (days * days)
        z, full, soft = accel / (se + 1e-300), self.accel_z, self.accel_soft
        if soft > 0.0 and soft < full and soft < z < full:
            accel *= (z - soft) / (full - soft)  # part of the way out of the noise
        elif z < full:
            return v_new / days, 0.0
        return v_new / days + accel * days / 2.0, accel

    def _state(self) -> dict[str, Any]:
        return {
            "bucket": self._bucket,
            "sum": self._sum,
            "count": self._count,
            "means": [None if m != m else m for m in self._means],
            "csum": self._csum,
            "commons": [None if m != m else m for m in self._commons],
            "t": self._t,
            "t_fast": self.t_fast,
            "dl": self.dl,
            "dl_var": self.dl_var,
            "held": [self._held_sq, self._held_n, self._held_dl, self._held_at],
            "slope_per_day": self.slope_per_day,
            "rate_per_day": self.rate_per_day,
            "fits": self.fits,
            "ramp": self.ramp,
            "level": None if self.level != self.level else self.level,
            "eta_ts": self.eta_ts,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self._bucket = int(state["bucket"])
        self._sum = float(state["sum"])
        self._count = int(state["count"])
        self._means = [_NAN if m is None else float(m) for m in state["means"]]
        self._csum = float(state.get("csum", 0.0))
        commons = state.get("commons", [None] * len(self._means))
        self._commons = [_NAN if m is None else float(m) for m in commons]
        self._t = float(state["t"])
        self.t_fast = float(state.get("t_fast", 0.0))
        self.dl = float(state.get("dl", 0.0))
        self.dl_var = float(state.get("dl_var", 0.0))
        held = state.get("held", [0.0, 0, 0.0, 0])
        self._held_sq, self._held_dl = float(held[0]), float(held[2])
        self._held_n, self._held_at = int(held[1]), int(held[3])
        self.slope_per_day = float(state["slope_per_day"])
        self.rate_per_day = float(state.get("rate_per_day", self.slope_per_day))
        self.fits = int(state.get("fits", 0))
        self.ramp = float(state.get("ramp", 0.0))
        self.level = _NAN if state["level"] is None else float(state["level"])
        self.eta_ts = state["eta_ts"]
