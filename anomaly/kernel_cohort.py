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

A reading more than a gap older than the latest its cohort learned from (a device that
was offline and delivers its readings late, in one batch) is filtered by the common as
it was at the reading's time (each cohort keeps a day of it, every ``HISTORY_S``), and
it teaches neither the common nor the coupling: what its peers did since is no part of
what it measured. A row that jumped (``STEPPED``, set by the stream kernel's jump
rules) learns no coupling until its reference learns again: until then its residuals
carry its own step, and a step while the cohort moves would be learned as coupling (a
relocated water heater's +4 sigma during a warm spell: a coupling too high, and a case
a week later when the region cooled). It still teaches the common, clipped like any
other: a step away from the limit is never a jump, and a cohort whose steps toward the
limit were left out would learn only the steps away from it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from anomaly.kernel import (
    AWAY_CALM,
    CALM_AT,
    COMMON,
    JIT,
    P_WARMUP,
    REF_N,
    STEPPED,
    expected,
    sigma,
)
from anomaly.kernel_stream import NONE, _update, snapshot

R_LAST, R_SETTLE, R_SXY, R_SXX, N_R = 0, 1, 2, 3, 4
# per cohort: rows, the common movement, the latest time it learned from, and its past
# (the common at the end of each of the last HISTORY steps of HISTORY_S, with the step's
# number, so a late reading is filtered by the common of its own time)
HISTORY, HISTORY_S = 144, 600.0  # a day
C_ROWS, C_COMMON, C_LAST, C_PAST = 0, 1, 2, 3
C_STEP = C_PAST + HISTORY
N_C = C_STEP + HISTORY
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
        edges[i] = _update(F, IX, season, counts, means, r, t, x, P) if keep else NONE
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
        if F[r, AWAY_CALM] >= last:  # and so is a step away from the limit
            F[r, AWAY_CALM] = t + Q[Q_SETTLE_S]
    # the device's own cohort, or its parent (a wider one) while its own is too small
    c = cohort[r, 0] if C[cohort[r, 0], C_ROWS] >= Q[Q_MIN_DEVICES] else cohort[r, 1]
    enough = C[c, C_ROWS] >= Q[Q_MIN_DEVICES]
    common = C[c, C_COMMON] if enough else 0.0
    late = t < C[c, C_LAST] - gap  # delivered late: its peers have moved on since
    if late and enough:
        common = _common_at(C, c, t)
    s = sigma(F, r, P)
    prior = 0.25 * s * s  # a weak pull of this device's coupling toward 1
    beta = (R[r, R_SXY] + prior) / (R[r, R_SXX] + prior)
    # a wider cohort shares only part of what moves this device (its weekends, not
    # its region's weather): the coupling it learns to it may fall to zero
    floor = 0.5 if c == cohort[r, 0] else 0.0
    beta = floor if beta < floor else (1.5 if beta > 1.5 else beta)
    keep = not (t < R[r, R_SETTLE])
    if keep and not late and IX[r, REF_N] >= P[P_WARMUP] / 2:  # ahead of the warm-up
        base = x - expected(F, season, r, t)
        bound = Q[Q_CLIP] * s
        for level in range(2):  # both commons learn, whichever this device uses
            own = cohort[r, level]
            if level == 1 and own == cohort[r, 0]:
                break
            res = base - beta * C[own, C_COMMON]
            res = bound if res > bound else (-bound if res < -bound else res)
            w = interval / (Q[Q_TAU_S] * C[own, C_ROWS])
            C[own, C_COMMON] += (w if w < 1.0 else 1.0) * res
            _remember(C, own, t)
        # a row that stepped (a jump) carries its own step until its reference has
        # taken the new level: no coupling to what the cohort did meanwhile
        if enough and F[r, STEPPED] != F[r, STEPPED]:
            # a robust (Huber) regression: what the current coupling leaves unexplained
            # counts up to one sigma, so a fault that grows while the cohort moves (a
            # weekend) is not learned as coupling, while a coupling that is off by a
            # share of a large shared movement still corrects itself
            res = base - beta * common
            res = s if res > s else (-s if res < -s else res)
            a = interval / Q[Q_BETA_S]  # this device's own coupling to the common movement
            R[r, R_SXY] += a * ((beta * common + res) * common - R[r, R_SXY])
            R[r, R_SXX] += a * (common * common - R[r, R_SXX])
    F[r, COMMON] = beta * common  # what the detector's value has lost (excursions)
    return x - beta * common, keep


@njit(**JIT)
def _remember(C, c, t):  # noqa: ANN001, N803
    """Keep cohort ``c``'s common as it is after a reading at ``t`` (its step's last)."""
    if t > C[c, C_LAST]:
        C[c, C_LAST] = t
    step = np.floor(t / HISTORY_S)
    i = int(step) % HISTORY
    C[c, C_PAST + i] = C[c, C_COMMON]
    C[c, C_STEP + i] = step


@njit(**JIT)
def _common_at(C, c, t):  # noqa: ANN001, N803
    """Cohort ``c``'s common at ``t``: between the ends of the step before ``t``'s and
    of ``t``'s own; the one of them kept where the other is not (no reading in that
    step); the current common where neither is (older than a day, or a silent cohort)."""
    pos = t / HISTORY_S
    step = np.floor(pos)
    i, j = int(step - 1.0) % HISTORY, int(step) % HISTORY
    before = C[c, C_STEP + i] == step - 1.0
    after = C[c, C_STEP + j] == step
    if before and after:
        w = pos - step
        return C[c, C_PAST + i] + w * (C[c, C_PAST + j] - C[c, C_PAST + i])
    if before:
        return C[c, C_PAST + i]
    if after:
        return C[c, C_PAST + j]
    return C[c, C_COMMON]


@njit(**JIT)
def _cadence(K, D, dt):  # noqa: ANN001, N803
    n = int(K[K_COUNT])
    D[n] = dt
    K[K_COUNT] = n + 1
    if n + 1 == len(D):
        K[K_INTERVAL] = np.median(D)
        K[K_FIXED] = 1.0
