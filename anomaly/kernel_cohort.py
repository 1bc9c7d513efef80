"""The cohort filter, compiled: common movement out, cold starts held back.

Per row ``R``: last timestamp and the time until which readings are held back (a device
that was silent longer than ``gap_s``, or 2.5 intervals, is settling: a cold start
after a power cut). Per cohort ``C`` (devices of one model in one region): its number
of rows and its common movement, an exponentially weighted mean (time constant
``tau_s``) of the devices' residuals against their own seasonal references in the
stream kernel's state (``F``, ``season``), each clipped at ``clip`` sigma around the
current estimate. Each row also learns its own coupling ``beta`` to that movement (an
exponentially weighted regression over ``beta_s``, held in 0.5..1.5 and pulled toward 1
while the movement has been small): what reaches the detector is
``x - beta * common``; the coupling is a robust regression (what it leaves unexplained
counts up to one sigma per value), so a fault that grows while the cohort moves is not
learned as coupling. A row that was calm before a gap is taken as calm
until its readings are scored again, so a new level after the gap (a replaced unit)
is a jump to the detector. A row belongs to two cohorts (``cohort[r]``: its own, and the
wider parent it falls back on while its own has fewer than ``min_devices`` rows); both
commons learn from it. ``K``/``D`` measure the block's cadence from its first intervals.

Each row also learns its own shape over the week (``_week_learn``): the mean of what
reaches the detector, before this correction, against the reference, in ``WEEK_BINS``
bins of ``WEEK_BIN_S`` (3 hours of the UTC week, so a local weekend starts within a
bin's reach in any time zone), each bin folded in once it is over, half new, half old.
Once every bin has a value, the shape (each bin less the mean of all bins: the level is
the reference's business) is taken out of the value before the cohort's movement and
the coupling are: a unit whose weekends move it more or less than its cohort's (its
household runs it harder on Saturdays) is no longer a rise every Saturday morning, and
its coupling is learned from what the week does not explain (the weather), so the two
no longer pull one coupling two ways. A bin learns from last week, never from the
hours it corrects, so a fault growing now is not taken out; when the detector takes a
new level (a replaced unit, a recalibrated sensor), the bins learned since the shift
began give back their share of it (``_week_unlearn``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from anomaly.kernel import (
    CALM_AT,
    FLAT_SINCE,
    JIT,
    MAD_TO_SIGMA,
    P_MIN_SCALE,
    P_REBASE_DAYS,
    P_WARMUP,
    REF_N,
    REF_SPREAD,
    expected,
    expected_mean,
)
from anomaly.kernel_stream import NONE, _update, snapshot

R_LAST, R_SETTLE, R_SXY, R_SXX = 0, 1, 2, 3
R_WBIN, R_WSUM, R_WCNT, R_WTOT, R_WN, R_WEEK = 4, 5, 6, 7, 8, 9  # the week: see _week_learn
WEEK_BIN_S, WEEK_BINS, WEEK_ALPHA, WEEK_MIN = 3 * 3600.0, 56, 0.5, 6
N_R = R_WEEK + WEEK_BINS
C_ROWS, C_COMMON, N_C = 0, 1, 2
K_COUNT, K_INTERVAL, K_FIXED, N_K = 0, 1, 2, 3  # cadence: samples, interval, 0/1/2 state
(Q_TAU_S, Q_GAP_S, Q_SETTLE_S, Q_MIN_DEVICES, Q_CLIP, Q_INTERVAL_S, Q_BETA_S) = range(7)
N_Q = 7


@njit(**JIT)
def run_filtered(
    F, IX, season, counts, means, R, C, cohort, K, D, rows, ts, xs, P, Q, edges, snaps, start
):  # noqa: ANN001, N803
    """``kernel_stream.run`` behind the cohort filter, value by value from ``start``.

    Each value loses its cohort's common movement; a value of a row still settling
    after a gap is not scored (edge NONE). Until the cadence is known (``K[K_INTERVAL]``
    NaN) intervals are collected in ``D``; the call returns right after the value that
    fixed it, so the caller can set the parameters for that cadence and go on from
    there. Returns the index of the next value to run (``len(rows)`` when done).
    """
    for i in range(start, len(rows)):
        r, t = rows[i], ts[i]
        x, keep = _filter(F, IX, season, R, C, cohort, K, D, r, t, xs[i], P, Q)
        held, before = F[r, FLAT_SINCE], expected_mean(F, r)
        edges[i] = _update(F, IX, season, counts, means, r, t, x, P) if keep else NONE
        took = held == held and F[r, FLAT_SINCE] != F[r, FLAT_SINCE]
        if took and t - held >= P[P_REBASE_DAYS] * 86400.0:  # the detector took a new level
            bound = Q[Q_CLIP] * (F[r, REF_SPREAD] * MAD_TO_SIGMA + P[P_MIN_SCALE])
            shift = expected_mean(F, r) - before
            _week_unlearn(R, r, held, t, bound if shift > bound else max(shift, -bound))
        snapshot(F, IX, season, r, t, snaps[i])
        if K[K_FIXED] == 1.0:
            K[K_FIXED] = 2.0
            return i + 1
    return len(rows)


@njit(**JIT)
def _filter(F, IX, season, R, C, cohort, K, D, r, t, x, P, Q):  # noqa: ANN001, N803
    last = R[r, R_LAST]
    if last == last and K[K_FIXED] == 0.0 and 0.0 < t - last < 3600.0:
        _cadence(K, D, t - last)
    if last != last or t > last:
        R[r, R_LAST] = t
    interval = K[K_INTERVAL] if K[K_INTERVAL] == K[K_INTERVAL] else Q[Q_INTERVAL_S]
    gap = Q[Q_GAP_S] if Q[Q_GAP_S] > 2.5 * interval else 2.5 * interval
    if last == last and t - last > gap:
        R[r, R_SETTLE] = t + Q[Q_SETTLE_S]
        if F[r, CALM_AT] >= last:  # calm before the gap: a jump is timed from the restart
            F[r, CALM_AT] = t + Q[Q_SETTLE_S]
    # the device's own cohort, or its parent (a wider one) while its own is too small
    c = cohort[r, 0] if C[cohort[r, 0], C_ROWS] >= Q[Q_MIN_DEVICES] else cohort[r, 1]
    enough = C[c, C_ROWS] >= Q[Q_MIN_DEVICES]
    common = C[c, C_COMMON] if enough else 0.0
    sigma = F[r, REF_SPREAD] * MAD_TO_SIGMA + P[P_MIN_SCALE]
    prior = 0.25 * sigma * sigma  # a weak pull of this device's coupling toward 1
    beta = (R[r, R_SXY] + prior) / (R[r, R_SXX] + prior)
    # a wider cohort shares only part of what moves this device (its weekends, not
    # its region's weather): the coupling it learns to it may fall to zero
    floor = 0.5 if c == cohort[r, 0] else 0.0
    beta = floor if beta < floor else (1.5 if beta > 1.5 else beta)
    keep = not (t < R[r, R_SETTLE])
    shape = _week_shape(R, r, t)
    if keep and IX[r, REF_N] >= P[P_WARMUP] / 2:  # ahead of the detector's warm-up
        base = x - expected(F, season, r, t) - shape
        bound = Q[Q_CLIP] * sigma
        week = base + shape - beta * common
        _week_learn(R, r, t, bound if week > bound else (-bound if week < -bound else week))
        for level in range(2):  # both commons learn, whichever this device uses
            own = cohort[r, level]
            if level == 1 and own == cohort[r, 0]:
                break
            res = base - beta * C[own, C_COMMON]
            res = bound if res > bound else (-bound if res < -bound else res)
            w = interval / (Q[Q_TAU_S] * C[own, C_ROWS])
            C[own, C_COMMON] += (w if w < 1.0 else 1.0) * res
        if enough:
            # a robust (Huber) regression: what the current coupling leaves unexplained
            # counts up to one sigma, so a fault that grows while the cohort moves (a
            # weekend) is not learned as coupling, while a coupling that is off by a
            # share of a large shared movement still corrects itself
            res = base - beta * common
            res = sigma if res > sigma else (-sigma if res < -sigma else res)
            a = interval / Q[Q_BETA_S]  # this device's own coupling to the common movement
            R[r, R_SXY] += a * ((beta * common + res) * common - R[r, R_SXY])
            R[r, R_SXX] += a * (common * common - R[r, R_SXX])
    return x - beta * common - shape, keep


@njit(**JIT)
def _week_unlearn(R, r, since, now, shift):  # noqa: ANN001, N803
    """The detector took a new level, ``shift`` from the old (clipped as the values the
    week learns from are), for a shift that began at ``since``. The bins folded in since
    then learned it against the old level (the detector's reference does not follow a
    shift until it takes it) and hold ``WEEK_ALPHA`` of it (the first, the share of it
    after ``since``; the bin under way, all of it): take that out of them, or they come
    back a week later as a pattern of the unit's own."""
    first, last = int(since // WEEK_BIN_S), int(now // WEEK_BIN_S)
    for b in range(max(first, last - WEEK_BINS), last):
        slot = R_WEEK + b % WEEK_BINS
        share = 1.0 if b > first else ((first + 1) * WEEK_BIN_S - since) / WEEK_BIN_S
        if R[r, slot] == R[r, slot]:
            R[r, slot] -= WEEK_ALPHA * share * shift
            R[r, R_WTOT] -= WEEK_ALPHA * share * shift
    if R[r, R_WBIN] == float(last):  # the bin under way: its values so far, all of it
        R[r, R_WSUM] -= shift * R[r, R_WCNT]


@njit(**JIT)
def _week_shape(R, r, t):  # noqa: ANN001, N803
    """This row's learned offset for the bin of the week ``t`` falls in (0 until every
    bin has been learned once), less the mean over the week."""
    if R[r, R_WN] < WEEK_BINS:
        return 0.0
    return R[r, R_WEEK + int(t // WEEK_BIN_S) % WEEK_BINS] - R[r, R_WTOT] / WEEK_BINS


@njit(**JIT)
def _week_learn(R, r, t, v):  # noqa: ANN001, N803
    """Add ``v`` to the bin ``t`` falls in; when a later bin starts, fold the one that
    ended into its slot of the week (``WEEK_ALPHA`` of the new mean, the rest old; a bin
    with fewer than ``WEEK_MIN`` values is skipped). Late values of an ended bin are
    not learned."""
    b = float(int(t // WEEK_BIN_S))
    cur = R[r, R_WBIN]
    if cur != cur or b > cur:
        if cur == cur and R[r, R_WCNT] >= WEEK_MIN:
            slot = R_WEEK + int(cur) % WEEK_BINS
            m = R[r, R_WSUM] / R[r, R_WCNT]
            old = R[r, slot]
            R[r, slot] = m if old != old else old + WEEK_ALPHA * (m - old)
            total, n = 0.0, 0
            for i in range(R_WEEK, R_WEEK + WEEK_BINS):
                if R[r, i] == R[r, i]:
                    total += R[r, i]
                    n += 1
            R[r, R_WTOT], R[r, R_WN] = total, n
        R[r, R_WBIN], R[r, R_WSUM], R[r, R_WCNT] = b, 0.0, 0.0
    if b == R[r, R_WBIN]:
        R[r, R_WSUM] += v
        R[r, R_WCNT] += 1.0


@njit(**JIT)
def _cadence(K, D, dt):  # noqa: ANN001, N803
    n = int(K[K_COUNT])
    D[n] = dt
    K[K_COUNT] = n + 1
    if n + 1 == len(D):
        K[K_INTERVAL] = np.median(D)
        K[K_FIXED] = 1.0
