"""``anomaly.trend.Trend``, compiled, on one row of the kernel's state.

Bucket means are kept right-aligned in ``means[r, 0]`` (newest last) with ``T_LENGTH``
of them real, the cohort's common movement over the same buckets in ``means[r, 1]``;
list positions in ``Trend`` and columns here differ by a constant, so every comparison
between positions (pairs across a step) comes out the same.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from anomaly.kernel import (
    COMMON,
    JIT,
    NAN,
    P_ACCEL_SOFT,
    P_ACCEL_Z,
    P_BUCKET_S,
    P_COUPLING,
    P_DETREND,
    P_DIRECTION,
    P_FAST_COUPLING,
    P_FIT,
    P_FIT_FAST,
    P_LAG,
    P_LIMIT,
    P_MIN_PAIRS,
    P_MOTION_N,
    P_QUANTILE,
    P_RAMP_N,
    P_RAMP_WANDER_Z,
    P_RAMP_Z,
    P_STEP_VETO,
    P_VETO_BEND,
    T_BUCKET,
    T_COUNT,
    T_CSUM,
    T_DL,
    T_DLVAR,
    T_ETA,
    T_FITS,
    T_HELD_AT,
    T_HELD_DL,
    T_HELD_N,
    T_HELD_SQ,
    T_LENGTH,
    T_LEVEL,
    T_RAMP,
    T_RATE,
    T_SLOPE,
    T_SUM,
    T_T,
    T_TFAST,
    sigma,
)
from anomaly.trend import (
    BEND_FIT,
    BEND_LINE,
    BEND_RUN,
    CREEP_LINE,
    CREEP_N,
    CREEP_ROOM,
    CREEP_Z,
    FAST_BEND,
    FAST_KEEP,
    HALF_DAY,
    RAMP_FLOOR,
    WANDER_BACK,
    WANDER_FITS,
    WANDER_HOLD,
    WANDER_N,
    WANDER_OWN,
    best_bend_array,
    best_step_array,
)


@njit(**JIT)
def trend_update(F, IX, means, r, ts, d, P):  # noqa: ANN001, N803
    """``Trend.update``: add ``d`` (and the common movement ``F[r, COMMON]`` it lost) to
    its bucket (closing the last one); the current t."""
    b = int(ts // P[P_BUCKET_S])
    if b != IX[r, T_BUCKET]:
        if IX[r, T_BUCKET] >= 0 and b > IX[r, T_BUCKET]:
            _close(F, IX, means, r, b, P)
        IX[r, T_BUCKET], F[r, T_SUM], IX[r, T_COUNT] = b, 0.0, 0
        F[r, T_CSUM] = 0.0
    F[r, T_SUM] += d
    F[r, T_CSUM] += F[r, COMMON]
    IX[r, T_COUNT] += 1
    return F[r, T_T]


@njit(**JIT)
def trend_forget(F, IX, means, r):  # noqa: ANN001, N803
    """``Trend.forget``: drop the bucket means (a new normal starts); the level and the
    last time to the limit stay until the next fit."""
    means[r, :, :] = NAN
    IX[r, T_LENGTH] = 0
    F[r, T_T] = 0.0
    F[r, T_TFAST] = 0.0
    F[r, T_RAMP] = 0.0
    trend_drop_held(F, r)


@njit(**JIT)
def trend_drop_held(F, r):  # noqa: ANN001, N803
    """``Trend.drop_held``: the moves held out of the wander are no longer learned."""
    F[r, T_HELD_SQ] = F[r, T_HELD_N] = F[r, T_HELD_DL] = 0.0


@njit(**JIT)
def _close(F, IX, means, r, new_bucket, P):  # noqa: ANN001, N803
    window = means.shape[2]
    count = IX[r, T_COUNT]
    gap = min(new_bucket - IX[r, T_BUCKET] - 1, window)
    shift = 1 + gap
    for k, total in enumerate((F[r, T_SUM], F[r, T_CSUM])):
        row = means[r, k]
        for j in range(window):
            row[j] = row[j + shift] if j + shift < window else NAN
        if gap < window:
            row[window - 1 - gap] = total / count if count else NAN
    IX[r, T_LENGTH] = min(IX[r, T_LENGTH] + shift, window)
    m = means[r, 0]
    noise = bucket_noise(m)
    floor = RAMP_FLOOR * sigma(F, r, P)
    # a ramp must rise past the unit's own day-to-day wander (trend.Trend._ramp)
    least = P[P_RAMP_WANDER_Z] * math.sqrt(F[r, T_DLVAR])
    F[r, T_RAMP] = _ramp(m, IX[r, T_LENGTH], noise if noise > floor else floor, least, noise, P)
    _fit(F, IX, m, means[r, 1], r, (IX[r, T_BUCKET] + 1 + gap) * P[P_BUCKET_S], noise, P)


@njit(**JIT)
def bucket_noise(m):  # noqa: ANN001
    steps = np.empty(len(m))
    n = 0
    for j in range(len(m) - 1):
        if m[j] == m[j] and m[j + 1] == m[j + 1]:
            steps[n] = abs(m[j + 1] - m[j])
            n += 1
    if n == 0:
        return 0.0
    return 1.4826 * np.sort(steps[:n])[n // 2] / math.sqrt(2.0)


@njit(**JIT)
def _climb(last, down, noise, ramp_z, least):  # noqa: ANN001
    k = len(last) - 1
    for v in last:
        if v != v:
            return 0.0
    sign = -1.0 if down else 1.0
    low = math.inf
    for j in range(k):
        low = min(low, sign * (last[j + 1] - last[j]))
    total = sign * (last[k] - last[0])
    if noise <= 0.0 or total <= 0.0 or total < least or low < 0.5 * total / k:
        return 0.0
    return total / (ramp_z * noise)


@njit(**JIT)
def _creep(last, down, noise, limit, least, spread):  # noqa: ANN001
    """``trend._creep``."""
    n = len(last)
    if noise <= 0.0:
        return 0.0
    total = 0.0
    for v in last:
        if v != v:
            return 0.0
        total += v
    sign = -1.0 if down else 1.0
    mx, my = (n - 1) / 2.0, total / n
    sxy = 0.0
    for i in range(n):
        sxy += (i - mx) * (last[i] - my)
    rise = sign * sxy / (n * (n * n - 1) / 12.0) * (n - 1)
    big = rise >= CREEP_ROOM * abs(limit - last[0])
    if _rises(last, rise, sign, least) and big and best_step_array(last)[0] >= CREEP_LINE:
        return rise / (CREEP_Z * noise)
    return _bent(last, sign, noise, limit, least, spread)


@njit(**JIT)
def _rises(seg, rise, sign, least):  # noqa: ANN001
    """``trend._rises``."""
    first, second = _halves(seg, sign)
    return rise > 0.0 and rise >= least and min(first, second) >= 0.25 * rise


@njit(**JIT)
def _halves(seg, sign):  # noqa: ANN001
    """``trend._halves``."""
    n, half = len(seg), len(seg) // 2
    a, b, c = 0.0, 0.0, 0.0
    for j in range(3):
        a += seg[j]
        b += seg[half - 3 + j]
        c += seg[n - 3 + j]
    return sign * (b - a) / 3.0, sign * (c - b) / 3.0


@njit(**JIT)
def _bent(last, sign, noise, limit, least, spread):  # noqa: ANN001
    """``trend._bent``."""
    n = len(last)
    ratio, k, slope, sse = best_bend_array(last, BEND_RUN)
    if k == 0 or ratio < BEND_LINE or sse > (n - 3) * (BEND_FIT * spread) ** 2:
        return 0.0
    rise = sign * slope * (n - 1 - k)
    if rise <= 0.0 or rise < least or rise < CREEP_ROOM * abs(limit - last[0]):
        return 0.0
    return rise / (CREEP_Z * noise) if _steady(last[k:], rise, sign) else 0.0


@njit(**JIT)
def _steady(seg, rise, sign):  # noqa: ANN001
    """``trend._steady``."""
    n, half = len(seg), len(seg) // 2
    first, second = _halves(seg, sign)
    rate = 0.5 * rise / (n - 1)
    return first >= rate * (half - 3) and second >= rate * (n - half)


@njit(**JIT)
def _ramp(m, length, noise, least, spread, P):  # noqa: ANN001, N803
    k = int(P[P_RAMP_N])
    if k == 0 or length < k + 2:
        return 0.0
    down, w = P[P_DIRECTION] < 0, len(m)
    now = _climb(m[w - k - 1 :], down, noise, P[P_RAMP_Z], least)
    before = _climb(m[w - k - 2 : w - 1], down, noise, P[P_RAMP_Z], least)
    short = now if now < before else before
    if length < CREEP_N:
        return short
    creep = _creep(m[w - CREEP_N :], down, noise, P[P_LIMIT], least, spread)
    return creep if creep > short else short


@njit(**JIT)
def _pairs(m, lag, fit):  # noqa: ANN001
    starts, diffs = np.empty(len(m), np.int64), np.empty(len(m))
    n = 0
    for i in range(max(len(m) - fit, 0), len(m) - lag):
        if m[i] == m[i] and m[i + lag] == m[i + lag]:
            starts[n], diffs[n] = i, m[i + lag] - m[i]
            n += 1
    return starts[:n], diffs[:n]


@njit(**JIT)
def _fit(F, IX, m, common, r, now, noise, P):  # noqa: ANN001, N803
    lag = int(P[P_LAG])
    starts, diffs = _pairs(m, lag, int(P[P_FIT]))
    if len(diffs) < P[P_MIN_PAIRS]:
        return
    IX[r, T_FITS] += 1
    t, med = _t_stat(starts, diffs, P)
    F[r, T_SLOPE] = med / (lag * P[P_BUCKET_S] / 86400.0)
    if P[P_COUPLING] > 0.0:
        t = _t_stat(starts, _uncoupled(common, starts, diffs, lag, P[P_COUPLING], P), P)[0]
    if P[P_STEP_VETO] and t >= 1.0:
        t = _without_step(m, starts, diffs, t, P)
    F[r, T_T] = t
    total, count = _mean(m[len(m) - lag :])
    F[r, T_LEVEL] = total / count if count else NAN
    _wander(F, IX, m, r, lag, total, count, P)
    F[r, T_TFAST] = _fast(m, common, lag, P) if P[P_FIT_FAST] > 0 else 0.0
    _eta(F, IX, m, r, now - lag * P[P_BUCKET_S] / 2.0, noise, P)


@njit(**JIT)
def _uncoupled(common, starts, diffs, lag, coupling, P):  # noqa: ANN001, N803
    """``Trend._uncoupled``: each difference less ``coupling`` of the common movement's
    over the same pair (in place; a pair without the common's buckets stays)."""
    for j in range(len(starts)):
        a, b = common[starts[j]], common[starts[j] + lag]
        if a == a and b == b:
            diffs[j] -= P[P_DIRECTION] * coupling * abs(b - a)
    return diffs


@njit(**JIT)
def _mean(v):  # noqa: ANN001
    """(sum, count) of the values of ``v`` that are not NaN."""
    total, count = 0.0, 0
    for x in v:
        if x == x:
            total += x
            count += 1
    return total, count


@njit(**JIT)
def _wander(F, IX, m, r, lag, a1, c1, P):  # noqa: ANN001, N803
    """``Trend._wander``: the last day's move and its running mean square (``a1`` and
    ``c1``: the last day's sum and count, as the level has them)."""
    w = len(m)
    if IX[r, T_LENGTH] < 2 * lag or IX[r, T_FITS] < WANDER_FITS:
        return
    a0, c0 = _mean(m[w - 2 * lag : w - lag])
    if c0 < lag // 2 or c1 < lag // 2:
        return
    dl = F[r, T_DL] = P[P_DIRECTION] * (a1 / c1 - a0 / c0)
    n = IX[r, T_FITS] - WANDER_FITS + 1
    a = 1.0 / n if n < WANDER_N else 1.0 / WANDER_N
    sq = dl * dl
    if n > 24 and dl > 0.0 and sq > WANDER_OWN * F[r, T_DLVAR]:
        F[r, T_HELD_SQ] += sq  # held out until the unit comes back from it
        F[r, T_HELD_N] += 1.0
        F[r, T_HELD_DL] = dl if dl > F[r, T_HELD_DL] else F[r, T_HELD_DL]
        F[r, T_HELD_AT] = IX[r, T_FITS]
        return
    if F[r, T_HELD_N] > 0.0 and IX[r, T_FITS] - F[r, T_HELD_AT] > WANDER_HOLD:
        trend_drop_held(F, r)
    if F[r, T_HELD_N] > 0.0 and dl <= -WANDER_BACK * F[r, T_HELD_DL]:
        held = F[r, T_HELD_SQ] / F[r, T_HELD_N]
        for _ in range(int(F[r, T_HELD_N])):
            F[r, T_DLVAR] += (held - F[r, T_DLVAR]) * a
        trend_drop_held(F, r)
    if n > 24 and sq > 9.0 * F[r, T_DLVAR]:
        sq = 9.0 * F[r, T_DLVAR]
    F[r, T_DLVAR] += (sq - F[r, T_DLVAR]) * a


@njit(**JIT)
def _fast(m, common, lag, P):  # noqa: ANN001, N803
    """``Trend._fast``: the t of the last ``P_FIT_FAST`` buckets' pairs."""
    starts, diffs = _pairs(m, lag, int(P[P_FIT_FAST]))
    if len(diffs) < P[P_MIN_PAIRS]:
        return 0.0
    if P[P_FAST_COUPLING] > 0.0:
        diffs = _uncoupled(common, starts, diffs, lag, P[P_FAST_COUPLING], P)
    t = _t_stat(starts, diffs, P)[0]
    if P[P_STEP_VETO] and t >= 1.0:
        t = _without_step(m, starts, diffs, t, P)
    if t >= 1.0 and not _bends(m[max(len(m) - int(P[P_FIT_FAST]), 0) :]):
        return 0.0
    if t >= 1.0 and _stalled(m, P[P_DIRECTION]):
        return 0.0
    return t


@njit(**JIT)
def _stalled(m, sign):  # noqa: ANN001
    """``trend._stalled``: the last half-day moved less than FAST_KEEP of the one before
    (``sign``: P_DIRECTION, never 0 here)."""
    n = len(m)
    if n < 3 * HALF_DAY:
        return False
    means = np.empty(3)
    for j in range(3):
        total, count = _mean(m[n - (3 - j) * HALF_DAY : n - (2 - j) * HALF_DAY])
        if count < HALF_DAY // 2:
            return False
        means[j] = total / count
    return sign * (means[2] - means[1]) < FAST_KEEP * sign * (means[1] - means[0])


@njit(**JIT)
def _bends(m):  # noqa: ANN001
    """``trend._bends``: the buckets that are not NaN bend better than they step."""
    ys = m[~np.isnan(m)]
    return best_bend_array(ys, BEND_RUN)[0] >= FAST_BEND


@njit(**JIT)
def _t_stat(starts, diffs, P):  # noqa: ANN001, N803
    """``Trend._t_stat``: (t toward the limit, median) of the pairs' differences."""
    d = np.sort(diffs)
    n = len(d)
    med = d[n // 2]
    spread = _iqr(d)
    if P[P_DETREND] > 0.0:  # about a line, never under (1 - P_DETREND) of the plain spread
        spread = max(_spread(starts, diffs), (1.0 - P[P_DETREND]) * spread)
    se = (spread + 1e-12) / math.sqrt(n)
    qi = int(P[P_QUANTILE] * n)
    if P[P_DIRECTION] > 0:
        return max(d[qi] / se, 0.0), med
    if P[P_DIRECTION] < 0:
        return max(-d[n - 1 - qi] / se, 0.0), med
    return abs(med / se), med


@njit(**JIT)
def _iqr(d):  # noqa: ANN001
    """The interquartile range of sorted ``d`` as a normal sigma."""
    n = len(d)
    return (d[(3 * n) // 4] - d[n // 4]) / 1.349


@njit(**JIT)
def _spread(starts, diffs):  # noqa: ANN001
    """``Trend._spread``: the sigma (interquartile range) of the differences about
    their least-squares line over the pairs' starts."""
    n, s0 = len(diffs), starts[0]
    ms, md = 0.0, 0.0
    for j in range(n):
        ms += starts[j] - s0
        md += diffs[j]
    ms, md = ms / n, md / n
    sxx, sxy = 0.0, 0.0
    for j in range(n):
        sxx += (starts[j] - s0 - ms) * (starts[j] - s0 - ms)
        sxy += (starts[j] - s0 - ms) * (diffs[j] - md)
    b = sxy / sxx if sxx > 0.0 else 0.0
    res = np.empty(n)
    for j in range(n):
        res[j] = diffs[j] - md - b * (starts[j] - s0 - ms)
    return _iqr(np.sort(res))


@njit(**JIT)
def _without_step(m, starts, diffs, t, P):  # noqa: ANN001, N803
    valid = np.empty(len(m), np.int64)
    n = 0
    for j in range(len(m)):
        if m[j] == m[j]:
            valid[n] = j
            n += 1
    ys = m[valid[:n]]
    ratio, k = best_step_array(ys)
    if ratio >= P[P_STEP_VETO]:
        return t
    if P[P_VETO_BEND] > 0.0 and best_bend_array(ys, BEND_RUN)[0] >= P[P_VETO_BEND]:
        return t  # Trend._without_step: a bend, no step
    split, lag = valid[k], int(P[P_LAG])
    kept, at = np.empty(len(diffs)), np.empty(len(diffs), np.int64)
    c = 0
    for j in range(len(diffs)):
        if not (starts[j] < split <= starts[j] + lag):
            kept[c], at[c] = diffs[j], starts[j]
            c += 1
    return _t_stat(at[:c], kept[:c], P)[0] if c >= P[P_MIN_PAIRS] else 0.0


@njit(**JIT)
def _eta(F, IX, m, r, level_ts, noise, P):  # noqa: ANN001, N803
    F[r, T_RATE] = F[r, T_SLOPE]
    level, limit = F[r, T_LEVEL], P[P_LIMIT]
    if level != level:
        F[r, T_ETA] = NAN
        return
    sign = 1.0 if limit >= level else -1.0
    room = sign * (limit - level)
    speed, accel = _motion(m, IX[r, T_LENGTH], sign, noise, P)
    if speed != speed:
        speed, accel = sign * F[r, T_SLOPE], 0.0
    else:
        F[r, T_RATE] = sign * speed
    if accel > 0.0:
        days = (-speed + math.sqrt(speed * speed + 2.0 * accel * room)) / accel
    elif speed > 0.0:
        days = room / speed
    else:
        F[r, T_ETA] = NAN
        return
    F[r, T_ETA] = level_ts + days * 86400.0


@njit(**JIT)
def _motion(m, length, sign, noise, P):  # noqa: ANN001, N803
    lag, w = int(P[P_MOTION_N]), len(m)
    if length < 3 * lag:
        return NAN, 0.0
    blocks, var = np.empty(3), np.empty(3)
    for b, k in enumerate((3, 2, 1)):
        total, count = _mean(m[w - k * lag : w - (k - 1) * lag])
        if count < lag // 2:
            return NAN, 0.0
        blocks[b], var[b] = total / count, noise * noise / count
    days = lag * P[P_BUCKET_S] / 86400.0
    v_old, v_new = sign * (blocks[1] - blocks[0]), sign * (blocks[2] - blocks[1])
    accel = (v_new - v_old) / (days * days)
    se = math.sqrt(var[0] + 4.0 * var[1] + var[2]) / (days * days)
    z, full, soft = accel / (se + 1e-300), P[P_ACCEL_Z], P[P_ACCEL_SOFT]
    if soft > 0.0 and soft < full and soft < z < full:
        accel *= (z - soft) / (full - soft)  # part of the way out of the noise
    elif z < full:
        return v_new / days, 0.0
    return v_new / days + accel * days / 2.0, accel
