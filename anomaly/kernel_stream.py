"""``MetricStream.update``, compiled: evidence, score, alarm and rebase for one value.

``run`` takes a batch of values in order, each on its own row, so any mix of devices and
any number of readings per device costs the same per value.
"""

from __future__ import annotations

import math

from numba import njit

from anomaly.kernel import (
    ABOVE,
    ACTIVE,
    AWAY_CALM,
    AWAY_STEP,
    BACK,
    BELOW,
    BITS,
    BUCKETS,
    CALM,
    CALM_AT,
    COMMON,
    DESEASON,
    DOWN,
    DRIFT,
    DV_LONG,
    DV_SHORT,
    EXCURSION_ROOM,
    FITS_SEEN,
    FLAT,
    FLAT_SINCE,
    GAIN_AT,
    GAIN_AT2,
    GAIN_FROM,
    GAIN_FROM2,
    GAIN_JUMP,
    GAIN_OLD,
    GAIN_OLD2,
    GAIN_PREV,
    GAIN_PREV2,
    HOLD_ALPHA,
    HOLD_JUMP,
    HOLD_LAST,
    HOLD_NATS,
    HOLD_PREV,
    HOLD_RATE,
    HOLD_RATE_ALPHA,
    HOLD_RATE_MIN,
    HOLD_REVISIT,
    HOME,
    HOT,
    JIT,
    JUMP_AT,
    LAST,
    LAST_Z,
    LEVEL_FRAC,
    NAN,
    NOW_DAYS,
    OUT,
    OUT_AT,
    P_ALARM_M,
    P_ALARM_N,
    P_CLEAR,
    P_CLEAR_N,
    P_COLLAPSE,
    P_CUSUM_H,
    P_DRIFT_FITS,
    P_EDGE,
    P_FIT_FAST,
    P_FLAT_ALPHA,
    P_FLAT_N,
    P_HALF,
    P_HORIZON_DAYS,
    P_LEVEL_WANDER_Z,
    P_LIMIT,
    P_MOVED,
    P_NOW,
    P_OUT_FRAC,
    P_P_BIG,
    P_REBASE_DAYS,
    P_SIGN,
    P_SMOOTH_ALPHA,
    P_SPIKE_BACK_N,
    P_SPIKE_CAP,
    P_SPIKE_DECAY,
    P_SPIKE_MASS,
    P_SPIKE_MAX_RUN,
    P_SPIKE_Z,
    P_STEP_S,
    P_SUPPRESS_S,
    P_T_MIN,
    P_VAR_ALPHA,
    P_WANDER_Z,
    P_WARMUP,
    QUIET_S,
    QUIET_UNTIL,
    RAMPING,
    REF_N,
    REF_TOTAL,
    RELEARN,
    REVISIT_MAX,
    RUN,
    RUN_COMMON,
    RUN_PEAK,
    S_BASE,
    S_DRIFT,
    S_ETA,
    S_EXPECTED,
    S_FLAT,
    S_LEVEL,
    S_LEVEL_FRAC,
    S_OUT,
    S_RAMPING,
    S_RATE,
    S_SCORE,
    S_SMOOTH,
    S_SPIKES,
    SCORE,
    SETTLE_MARGIN,
    SETTLE_S,
    SHARED,
    SMOOTH,
    SPIKES,
    SQRT2,
    STARTED_AT,
    STEEPER,
    STEPPED,
    SUDDEN,
    T_DL,
    T_DLVAR,
    T_ETA,
    T_FITS,
    T_LEVEL,
    T_RAMP,
    T_RATE,
    T_SLOPE,
    T_TFAST,
    UP,
    ZBAR,
    N,
    _cusum,
    _seasonal,
    accept,
    expected,
    expected_mean,
    sigma,
)
from anomaly.kernel_trend import trend_drop_held, trend_forget, trend_update

NONE, ANOMALY, RECOVERY = 0, 1, 2


@njit(**JIT)
def run(F, IX, season, counts, means, rows, ts, xs, P, edges, snaps):  # noqa: ANN001, N803
    """Update ``rows[i]`` with ``(ts[i], xs[i])`` in order; edge codes and snapshots out."""
    for i in range(len(rows)):
        r = rows[i]
        edges[i] = _update(F, IX, season, counts, means, r, ts[i], xs[i], P)
        snapshot(F, IX, season, r, ts[i], snaps[i])


@njit(**JIT)
def snapshot(F, IX, season, r, ts, out):  # noqa: ANN001, N803
    out[S_LEVEL_FRAC], out[S_SCORE], out[S_SMOOTH] = F[r, LEVEL_FRAC], F[r, SCORE], F[r, SMOOTH]
    out[S_EXPECTED] = expected(F, season, r, ts)
    out[S_ETA], out[S_RATE], out[S_LEVEL] = F[r, T_ETA], F[r, T_RATE], F[r, T_LEVEL]
    out[S_DRIFT], out[S_RAMPING], out[S_OUT] = F[r, DRIFT], F[r, RAMPING], F[r, OUT]
    out[S_SPIKES], out[S_FLAT] = F[r, SPIKES], F[r, FLAT]
    out[S_BASE] = expected_mean(F, r)


@njit(**JIT)
def _update(F, IX, season, counts, means, r, ts, x, P):  # noqa: ANN001, N803
    n = IX[r, N] = IX[r, N] + 1
    a = P[P_SMOOTH_ALPHA] if n > 12 else 1.0 / n
    d = x - (_seasonal(season, r, ts) - F[r, REF_TOTAL] / BUCKETS)
    F[r, SMOOTH] += a * (x - F[r, SMOOTH])
    F[r, DESEASON] += a * (d - F[r, DESEASON])
    hold = _held(F, r, n, x)
    _collapse(F, season, r, ts, n, x, hold, P)
    c = _cusum(F, IX, season, counts, r, ts, x, P) / P[P_CUSUM_H]
    _jump(F, IX, means, r, ts, c, P)
    if F[r, UP] < RELEARN and F[r, DOWN] < RELEARN:  # the reference learns again
        F[r, STEPPED] = NAN
    excursion = _excursions(F, IX, season, r, ts, x, P[P_SIGN] * F[r, LAST_Z], hold, P)
    t = trend_update(F, IX, means, r, ts, d, P) / P[P_T_MIN]
    drift = _drift(F, IX, r, ts, c, t, P)
    warm = IX[r, REF_N] >= P[P_WARMUP]
    ramp = F[r, T_RAMP] if warm else 0.0
    ramping = F[r, RAMPING] = c if c < ramp else ramp
    score = max(
        drift,
        _level_frac(F, r, warm, P) / P[P_P_BIG],
        _out(F, r, ts, n, warm, P) / P[P_OUT_FRAC],
        excursion,
        F[r, FLAT] / P[P_FLAT_N],
        ramping,
    )
    if n > 6 and P[P_SIGN] * (F[r, SMOOTH] - P[P_LIMIT]) >= 0.0:
        score = 2.0
    F[r, SCORE] = score
    edge = _alarm(F, IX, r, ts, score, P)
    if IX[r, ACTIVE]:  # while a case is open the moves are its own (a repair ends them)
        trend_drop_held(F, r)
    _rebase(F, IX, means, r, ts, c, P)
    return edge


@njit(**JIT)
def _collapse(F, season, r, ts, n, x, hold, P):  # noqa: ANN001, N803
    """``MetricStream._collapse``: the reading-to-reading variance against its own norm."""
    diff = x - F[r, LAST]
    F[r, LAST] = x
    if diff != diff:
        return
    d2 = diff * diff
    a = 1.0 / n if 1.0 / n > P[P_FLAT_ALPHA] else P[P_FLAT_ALPHA]
    F[r, DV_SHORT] += a * (d2 - F[r, DV_SHORT])
    warm = n > P[P_WARMUP]
    collapsed = warm and F[r, DV_SHORT] < P[P_COLLAPSE] * F[r, DV_LONG]
    b = 1.0 / n if 1.0 / n > P[P_VAR_ALPHA] else P[P_VAR_ALPHA]
    b = b / 10.0 if collapsed else b
    cap = 9.0 * F[r, DV_LONG]
    F[r, DV_LONG] += b * ((d2 if not warm or d2 < cap else cap) - F[r, DV_LONG])
    F[r, FLAT] = F[r, FLAT] + _flat_weight(F, season, r, ts, x, hold, P) if collapsed else 0.0


@njit(**JIT)
def _flat_weight(F, season, r, ts, x, hold, P):  # noqa: ANN001, N803
    """``MetricStream._flat_weight``: how much a collapsed reading counts as flat."""
    if hold <= 0.0 or F[r, HOLD_RATE] < HOLD_RATE_MIN:
        return 1.0
    s = sigma(F, r, P)
    u, d = (x - expected(F, season, r, ts)) / s, hold / s
    q = 0.5 * (math.erf((d - u) / SQRT2) - math.erf((-d - u) / SQRT2))
    q = q if q < F[r, HOLD_RATE] else F[r, HOLD_RATE]
    w = -math.log(q) / HOLD_NATS if q > 0.0 else 1.0
    return w if w < 1.0 else 1.0


@njit(**JIT)
def _jump(F, IX, means, r, ts, c, P):  # noqa: ANN001, N803
    """``MetricStream._jump``: the CUSUM went from calm to its threshold within
    ``step_s``, after a quiet day (or within ``SUDDEN`` of it after any day), or (not
    calm) gained its threshold within one window of ``step_s`` after a window that
    gained under ``CALM`` (or two that gained under a fifth of it, ``STEEPER``): a jump. The trend
    forgets the hours before it, so a one-off shift is not read as a trend (a movement
    that goes on shows again), and the normal-range check lets the new level settle
    (``_out``)."""
    _gain_jump(F, IX, means, r, ts, c, P)
    if c < CALM:
        F[r, CALM_AT] = ts
    elif c >= 1.0:
        calm, out = F[r, CALM_AT], F[r, OUT_AT]
        quiet = out != out or calm - out >= QUIET_S
        sudden = ts - calm <= SUDDEN * P[P_STEP_S]
        if calm == calm and ts - calm <= P[P_STEP_S] and (quiet or sudden):
            trend_forget(F, IX, means, r)
            F[r, JUMP_AT] = F[r, STEPPED] = ts
        F[r, CALM_AT] = NAN
        F[r, OUT_AT] = ts


@njit(**JIT)
def _gain_jump(F, IX, means, r, ts, c, P):  # noqa: ANN001, N803
    """``MetricStream._gain_jump_check``: the CUSUM's gain per window of ``step_s``,
    whole with the reading that closes the window; a second set of windows opens at
    the first reading past the middle of each window of the first."""
    at = F[r, GAIN_AT]
    if at == at:
        _gain_step(F, IX, means, r, ts, c, GAIN_FROM, GAIN_PREV, GAIN_OLD)
    if at != at or ts - at >= P[P_STEP_S]:
        F[r, GAIN_OLD] = F[r, GAIN_PREV]
        F[r, GAIN_PREV] = c - F[r, GAIN_FROM] if at == at else NAN
        F[r, GAIN_AT], F[r, GAIN_FROM] = ts, c
    at2 = F[r, GAIN_AT2]
    if at2 == at2:
        _gain_step(F, IX, means, r, ts, c, GAIN_FROM2, GAIN_PREV2, GAIN_OLD2)
    mid = F[r, GAIN_AT] + 0.5 * P[P_STEP_S]  # the second set's windows open here
    if ts >= mid and not at2 >= mid:
        F[r, GAIN_OLD2] = F[r, GAIN_PREV2]
        F[r, GAIN_PREV2] = c - F[r, GAIN_FROM2] if at2 == at2 else NAN
        F[r, GAIN_AT2], F[r, GAIN_FROM2] = ts, c


@njit(**JIT)
def _gain_step(F, IX, means, r, ts, c, start, prev, old):  # noqa: ANN001, N803
    """``MetricStream._gain_step``: a whole threshold after a window under ``CALM``,
    or after two that gained under a fifth of it together (``STEEPER``); ``start``,
    ``prev`` and ``old`` are the columns of one set's window start and last two gains."""
    gain = c - F[r, start]
    steep = F[r, prev] + F[r, old] <= gain / STEEPER
    if F[r, start] < CALM or gain < 1.0 or not (F[r, prev] <= CALM or steep):
        return
    last = F[r, GAIN_JUMP]
    if last != last or ts - last >= QUIET_S:
        trend_forget(F, IX, means, r)
        F[r, JUMP_AT] = F[r, GAIN_JUMP] = F[r, FLAT_SINCE] = F[r, STEPPED] = ts
        F[r, GAIN_PREV] = F[r, GAIN_PREV2] = NAN


@njit(**JIT)
def _drift(F, IX, r, ts, c, t, P):  # noqa: ANN001, N803
    eta = F[r, T_ETA]
    soon = eta == eta and eta - ts < P[P_HORIZON_DAYS] * 86400
    # the two-day fit stands for the trend only where it says more than the whole window
    fast = P[P_FIT_FAST] > 0 and F[r, T_TFAST] / P[P_T_MIN] > t and _fast(F, IX, r, P)
    if fast:
        t = F[r, T_TFAST] / P[P_T_MIN]
    if IX[r, T_FITS] != IX[r, FITS_SEEN]:  # a bucket closed: is the trend still on?
        IX[r, FITS_SEEN] = IX[r, T_FITS]
        IX[r, HOT] = IX[r, HOT] + 1 if soon and t >= 1.0 else 0
    on = soon and IX[r, HOT] >= P[P_DRIFT_FITS]
    on = on and (fast or _drift_moved(F, IX, r, P) >= P[P_MOVED])
    on = on and _past_wander(F, r, P)
    drift = (c if c < t else t) if on else 0.0
    F[r, DRIFT] = drift
    return drift


@njit(**JIT)
def _past_wander(F, r, P):  # noqa: ANN001, N803
    """``MetricStream._past_wander``: the trend's level is ``level_wander_z`` times the
    unit's own day-to-day wander off the reference (open while that is not known)."""
    wander = F[r, T_DLVAR]
    if P[P_LEVEL_WANDER_Z] <= 0.0 or wander <= 0.0:
        return True
    level = P[P_SIGN] * (F[r, T_LEVEL] - expected_mean(F, r))
    return level >= P[P_LEVEL_WANDER_Z] * math.sqrt(wander)


@njit(**JIT)
def _fast(F, IX, r, P):  # noqa: ANN001, N803
    """``MetricStream._fast``: the two-day fit may stand for the trend."""
    if _moved(F, IX, r, P) <= 0.0:
        return False
    if _moved_now(F, r, P) < P[P_MOVED]:
        return False
    if P[P_WANDER_Z] <= 0.0:
        return True
    wander = F[r, T_DLVAR]  # 0 until the unit's own wander is known: no two-day fit
    return wander > 0.0 and F[r, T_DL] >= P[P_WANDER_Z] * math.sqrt(wander)


@njit(**JIT)
def _drift_moved(F, IX, r, P):  # noqa: ANN001, N803
    """``MetricStream._drift_moved``: the share of the way a drift has moved (the
    level now, with ``P_NOW``)."""
    if P[P_NOW] <= 0.0 or IX[r, REF_N] < P[P_WARMUP] or F[r, T_LEVEL] != F[r, T_LEVEL]:
        return _moved(F, IX, r, P)
    return _moved_now(F, r, P)


@njit(**JIT)
def _moved_now(F, r, P):  # noqa: ANN001, N803
    """``MetricStream._moved_now``: the share of the way the level has moved now."""
    return _way(F, r, F[r, T_LEVEL] + NOW_DAYS * F[r, T_SLOPE], P)


@njit(**JIT)
def _way(F, r, level, P):  # noqa: ANN001, N803
    """``MetricStream._way``: ``level``'s share of the way from the reference to the limit."""
    mean = expected_mean(F, r)
    room = abs(P[P_LIMIT] - mean)
    return P[P_SIGN] * (level - mean) / (room if room != 0.0 else 1e-9)


@njit(**JIT)
def _moved(F, IX, r, P):  # noqa: ANN001, N803
    """``MetricStream._moved``: the trend's level off the reference, a share of the way."""
    if IX[r, REF_N] < P[P_WARMUP] or F[r, T_LEVEL] != F[r, T_LEVEL]:
        return 0.0
    return _way(F, r, F[r, T_LEVEL], P)


@njit(**JIT)
def _far(F, r, dev, P):  # noqa: ANN001, N803
    """``MetricStream._far``: ``dev`` is ``EXCURSION_ROOM`` of the room toward the limit."""
    return dev >= EXCURSION_ROOM * abs(P[P_LIMIT] - expected_mean(F, r))


@njit(**JIT)
def _shared(F, r, P):  # noqa: ANN001, N803
    """``MetricStream._shared``: the cohort moved toward the limit during the excursion."""
    return P[P_SIGN] * (F[r, COMMON] - F[r, RUN_COMMON]) >= SHARED * F[r, RUN_PEAK]


@njit(**JIT)
def _same(a, b):  # noqa: ANN001
    """``stream.same``: ``a`` is ``b`` as a sensor resends it (to float noise)."""
    return abs(a - b) <= 1e-9 * (1.0 + abs(a))


@njit(**JIT)
def _held(F, r, n, x):  # noqa: ANN001, N803
    """``MetricStream._held``: the sensor's deadband when this value repeats a held sample
    of a sample-and-hold sensor, else 0."""
    raw = x + F[r, COMMON]  # the value as the sensor sent it
    last = F[r, HOLD_LAST]
    if last != last:
        F[r, HOLD_LAST] = raw
        return 0.0
    step, jump = abs(raw - last), F[r, HOLD_JUMP]
    repeat = _same(raw, last)  # the same sample again
    a = 1.0 / n if 1.0 / n > HOLD_RATE_ALPHA else HOLD_RATE_ALPHA
    a = a / 10.0 if F[r, FLAT] > 0.0 else a  # a flat spell is not the sensor's habit
    F[r, HOLD_RATE] += a * ((1.0 if repeat else 0.0) - F[r, HOLD_RATE])
    if repeat:
        return jump if jump == jump and F[r, HOLD_REVISIT] < REVISIT_MAX else 0.0
    F[r, HOLD_JUMP] = step if jump != jump else jump + HOLD_ALPHA * (step - jump)
    back = 1.0 if _same(raw, F[r, HOLD_PREV]) else 0.0
    F[r, HOLD_REVISIT] += HOLD_ALPHA * (back - F[r, HOLD_REVISIT])
    F[r, HOLD_PREV], F[r, HOLD_LAST] = last, raw
    return 0.0


@njit(**JIT)
def _excursions(F, IX, season, r, ts, x, z, hold, P):  # noqa: ANN001, N803
    F[r, SPIKES] -= P[P_SPIKE_DECAY] * F[r, SPIKES]
    rel = z - F[r, ZBAR]
    # a held sample says the sensor's value is within its deadband ``hold`` of it: it
    # counts as far as the nearest value it allows
    slack = hold / sigma(F, r, P) if hold > 0.0 else 0.0
    # the value's deviation toward the limit, needed in a run or at a candidate start
    dev = P[P_SIGN] * (x - expected(F, season, r, ts)) if IX[r, RUN] or rel > P[P_SPIKE_Z] else 0.0
    if IX[r, RUN]:
        IX[r, RUN] += 1
        far = rel - slack > P[P_SPIKE_Z] and _far(F, r, dev - hold, P)
        IX[r, ABOVE] += 1 if far else 0
        F[r, RUN_PEAK] = dev if dev > F[r, RUN_PEAK] else F[r, RUN_PEAK]
        if rel >= 1.5:
            IX[r, BACK] = 0
        else:
            IX[r, BACK] += 1
            if IX[r, BACK] >= P[P_SPIKE_BACK_N]:
                if not _shared(F, r, P):
                    F[r, SPIKES] += min(IX[r, ABOVE], P[P_SPIKE_CAP])
                IX[r, RUN] = IX[r, BACK] = 0
        if IX[r, RUN] > P[P_SPIKE_MAX_RUN]:
            IX[r, RUN] = IX[r, BACK] = 0
            F[r, ZBAR] = z
    elif rel - slack > P[P_SPIKE_Z] and _far(F, r, dev - hold, P):
        IX[r, RUN] = IX[r, ABOVE] = 1
        F[r, RUN_COMMON], F[r, RUN_PEAK] = F[r, COMMON], dev
    else:
        F[r, ZBAR] += (3.0 if rel > 3.0 else (-3.0 if rel < -3.0 else rel)) / 12.0
    return F[r, SPIKES] / P[P_SPIKE_MASS]


@njit(**JIT)
def _level_frac(F, r, warm, P):  # noqa: ANN001, N803
    F[r, LEVEL_FRAC] = _way(F, r, F[r, DESEASON], P) if warm else 0.0
    return F[r, LEVEL_FRAC]


@njit(**JIT)
def _out(F, r, ts, n, warm, P):  # noqa: ANN001, N803
    if n <= 12 or not warm:
        F[r, OUT] = 0.0
        return 0.0
    sign, edge = P[P_SIGN], P[P_EDGE]
    if F[r, HOME] != F[r, HOME]:  # the device's own healthy level, once warm
        F[r, HOME] = expected_mean(F, r)
    own = F[r, HOME] + sign * P[P_HALF]
    edge = edge if sign * (edge - own) >= 0.0 else own
    F[r, OUT] = sign * (F[r, DESEASON] - edge) / abs(P[P_LIMIT] - edge)
    jump = F[r, JUMP_AT]
    if jump != jump:
        return F[r, OUT]
    if ts - jump < SETTLE_S:  # a new level settling after a jump: a wider margin
        return F[r, OUT] / SETTLE_MARGIN
    if F[r, OUT] < SETTLE_MARGIN * P[P_OUT_FRAC]:  # settled within the wider margin: home
        F[r, HOME] = F[r, DESEASON]
    F[r, JUMP_AT] = NAN
    return F[r, OUT]


@njit(**JIT)
def _popcount(v):  # noqa: ANN001
    count = 0
    while v:
        v &= v - 1
        count += 1
    return count


@njit(**JIT)
def _alarm(F, IX, r, ts, score, P):  # noqa: ANN001, N803
    mask = (1 << int(P[P_ALARM_M])) - 1
    IX[r, BITS] = ((IX[r, BITS] << 1) | (1 if score >= 1.0 else 0)) & mask
    if not IX[r, ACTIVE]:
        if _popcount(IX[r, BITS]) >= P[P_ALARM_N] and ts >= F[r, QUIET_UNTIL]:
            IX[r, ACTIVE], F[r, STARTED_AT], IX[r, BELOW] = 1, ts, 0
            return ANOMALY
        return NONE
    IX[r, BELOW] = IX[r, BELOW] + 1 if score < P[P_CLEAR] else 0
    if IX[r, BELOW] >= P[P_CLEAR_N]:
        IX[r, ACTIVE], F[r, STARTED_AT], IX[r, BITS] = 0, NAN, 0
        F[r, QUIET_UNTIL] = ts + P[P_SUPPRESS_S]
        return RECOVERY
    return NONE


@njit(**JIT)
def _rebase(F, IX, means, r, ts, c, P):  # noqa: ANN001, N803
    """``MetricStream._maybe_rebase``: a shift held without an alarm, toward the limit
    or away from it after a step, is the new normal; the trend forgets the hours before
    it and, for a shift toward the limit, the device's own level moves there."""
    toward = c
    away = (F[r, DOWN] if P[P_SIGN] > 0 else F[r, UP]) / P[P_CUSUM_H]
    if away < CALM:
        F[r, AWAY_CALM] = ts
        F[r, AWAY_STEP] = NAN
    elif away >= 1.0 and F[r, AWAY_STEP] != F[r, AWAY_STEP]:
        calm = F[r, AWAY_CALM]
        if calm == calm and ts - calm <= P[P_STEP_S]:
            F[r, AWAY_STEP] = ts
    if F[r, AWAY_STEP] == F[r, AWAY_STEP] and away > c:
        c = away
    if IX[r, ACTIVE] or c < 1.0:
        F[r, FLAT_SINCE] = NAN
        return
    if F[r, FLAT_SINCE] != F[r, FLAT_SINCE]:
        F[r, FLAT_SINCE] = ts
    elif ts - F[r, FLAT_SINCE] >= P[P_REBASE_DAYS] * 86400:
        accept(F, IX, r, F[r, T_LEVEL], P)
        F[r, FLAT_SINCE] = NAN
        if IX[r, REF_N] >= P[P_WARMUP] and toward >= 1.0:  # away: the edge stays
            F[r, HOME] = expected_mean(F, r)
        trend_forget(F, IX, means, r)
