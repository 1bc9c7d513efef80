"""The compiled kernel's state layout, and its CUSUM with the seasonal reference.

The kernel (``kernel.py``, ``kernel_trend.py``, ``kernel_stream.py``) is the scalar
reference (``anomaly.stream.MetricStream`` and the detectors it is made of) written over
arrays, operation for operation, and compiled with numba; ``tests/anomaly/test_block.py``
holds the two to identical numbers and edges. State layout: ``F`` (float) and ``IX``
(integer) columns named below, ``season``/``counts`` (hour-of-day offsets of the
reference), ``means`` (the trend's bucket means, newest last, NaN where none: ``means[r, 0]``
of the value, ``means[r, 1]`` of the cohort's common movement it lost).
Parameters come in ``P`` (see ``block.params``).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

from numba import njit
from numba.core import config as numba_config


def cache_dir() -> Path:
    """Where numba caches this package's kernels: beside the sources, or under
    ``NUMBA_CACHE_DIR`` when that is set (in numba's own sub-folder for this package)."""
    here = Path(__file__).parent
    if not numba_config.CACHE_DIR:
        return here / "__pycache__"
    try:  # numba's own naming of the sub-folder (not a public API: numba>=0.60,<1)
        from numba.core.caching import _CacheLocator

        sub = _CacheLocator.get_suitable_cache_subpath(str(here / "kernel.py"))
    except (ImportError, AttributeError):  # moved in numba: the stamp goes in the root,
        # where no kernel files are, so nothing is dropped (as before this check knew the
        # folder); the import of the kernels itself must not fail for it
        return Path(numba_config.CACHE_DIR)
    return Path(numba_config.CACHE_DIR) / sub


def _drop_stale_cache() -> None:
    """numba's on-disk cache keys a function by its own file's time stamp only, so a
    change in a kernel module it calls into goes unseen. Keep a hash of every kernel
    source beside the cache files (``cache_dir``) and remove them when it changes."""
    here = Path(__file__).parent
    sources = sorted(here.glob("kernel*.py")) + [here / "trend.py"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()
    cache = cache_dir()
    stamp = cache / "kernels.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for f in cache.glob("*.nb[ic]"):
            if f.name.startswith(("kernel", "trend")):
                f.unlink(missing_ok=True)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"kernels.sha256.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:  # a read-only install: numba then caches elsewhere or not at all
        return


_drop_stale_cache()

# float columns
(
    SMOOTH,
    DESEASON,
    SPIKES,
    SCORE,
    DRIFT,
    LEVEL_FRAC,
    OUT,
    ZBAR,
    LAST,
    FLAT_SINCE,
    STARTED_AT,
    QUIET_UNTIL,
    RAMPING,
    REF_LEVEL,
    REF_SPREAD,
    REF_TOTAL,
    UP,
    DOWN,
    LAST_Z,
    T_SUM,
    T_T,
    T_SLOPE,
    T_RATE,
    T_LEVEL,
    T_ETA,
    T_RAMP,
    DV_SHORT,
    DV_LONG,
    HOME,
    CALM_AT,
    OUT_AT,
    JUMP_AT,
    COMMON,
    RUN_COMMON,
    RUN_PEAK,
    T_CSUM,
    T_TFAST,
    T_DL,
    T_DLVAR,
    GAIN_AT,
    GAIN_FROM,
    GAIN_PREV,
    GAIN_JUMP,
    HOLD_LAST,
    HOLD_PREV,
    HOLD_JUMP,
    HOLD_REVISIT,
    HOLD_RATE,
    FLAT,
    STEPPED,
    GAIN_AT2,
    GAIN_FROM2,
    GAIN_PREV2,
    GAIN_OLD,
    GAIN_OLD2,
    AWAY_CALM,
    AWAY_STEP,
    T_HELD_SQ,
    T_HELD_N,
    T_HELD_DL,
    T_HELD_AT,
) = range(61)
N_F = 61
# integer columns
(
    N,
    RUN,
    BACK,
    ABOVE,
    FITS_SEEN,
    HOT,
    BITS,
    BELOW,
    ACTIVE,
    REF_N,
    T_BUCKET,
    T_COUNT,
    T_LENGTH,
    T_FITS,
) = range(14)
N_I = 14
# parameters
(
    P_SMOOTH_ALPHA,
    P_CUSUM_H,
    P_T_MIN,
    P_HORIZON_DAYS,
    P_DRIFT_FITS,
    P_P_BIG,
    P_OUT_FRAC,
    P_FLAT_N,
    P_SPIKE_DECAY,
    P_SPIKE_Z,
    P_SPIKE_BACK_N,
    P_SPIKE_CAP,
    P_SPIKE_MAX_RUN,
    P_SPIKE_MASS,
    P_ALARM_M,
    P_ALARM_N,
    P_CLEAR,
    P_CLEAR_N,
    P_SUPPRESS_S,
    P_REBASE_DAYS,
    P_SIGN,
    P_EDGE,
    P_LIMIT,
    P_DIRECTION,
    P_K,
    P_ALPHA,
    P_WARMUP,
    P_LAG,
    P_BUCKET_S,
    P_MIN_PAIRS,
    P_STEP_VETO,
    P_QUANTILE,
    P_ACCEL_Z,
    P_RAMP_N,
    P_RAMP_Z,
    P_HALF,
    P_FLAT_ALPHA,
    P_VAR_ALPHA,
    P_COLLAPSE,
    P_MIN_SCALE,
    P_MOTION_N,
    P_STEP_S,
    P_MOVED,
    P_FIT,
    P_COUPLING,
    P_FIT_FAST,
    P_FAST_COUPLING,
    P_WANDER_Z,
    P_LEVEL_WANDER_Z,
    P_RAMP_WANDER_Z,
    P_DETREND,
    P_NOW,
    P_ACCEL_SOFT,
    P_VETO_BEND,
) = range(54)
N_P = 54
# snapshot columns (the numbers an event needs, taken right after each value)
(
    S_LEVEL_FRAC,
    S_SCORE,
    S_SMOOTH,
    S_EXPECTED,
    S_ETA,
    S_RATE,
    S_LEVEL,
    S_DRIFT,
    S_RAMPING,
    S_OUT,
    S_SPIKES,
    S_FLAT,
    S_BASE,
) = range(13)
N_S = 13

BUCKETS, PERIOD_S = 24, 86400.0
Z_CAP, RELEARN, SEASON_ALPHA, CLIP, MIN_SCALE, MIN_COUNT = 4.0, 2.0, 0.1, 3.0, 1e-9, 12
MAD_TO_SIGMA = 1.2533
NAN = math.nan
SQRT2 = math.sqrt(2.0)
CALM = 0.2  # a CUSUM below this share of its threshold is in control (jump detection)
STEEPER = 5.0  # or (the gain rule) a window gained this many times what the two before did
SUDDEN = 0.75  # from calm to the threshold within this share of step_s: a jump, quiet or not
QUIET_S = 86400.0  # and a jump needs it to have stayed below its threshold this long
SETTLE_S = 6 * 3600.0  # after a jump the new level settles this long before it is judged
SETTLE_MARGIN = 3.0  # meanwhile the normal-range check needs this many times its margin
EXCURSION_ROOM = 0.2  # an excursion's readings are this share of the room toward the limit
NOW_DAYS = 0.5  # the trend's level is the last day's mean: half a day of its slope to now
SHARED = 0.5  # an excursion whose peak the cohort's common rise matched by this share is shared
HOLD_ALPHA = 0.05  # a sensor's jumps and returns: EW over about its last 20 changes
REVISIT_MAX = 0.2  # a sensor whose changes return to the value before this often quantises
HOLD_RATE_ALPHA = 0.005  # the share of readings that repeat the held sample: EW over ~200
HOLD_RATE_MIN = 0.2  # a sensor that repeats this often when healthy holds its samples
HOLD_NATS = 0.2  # a held reading counts as flat by -ln P(a working sensor holds) / this
JIT = {"cache": True, "error_model": "numpy"}


# -- the reference (SeasonalBaseline inside the CUSUM) --------------------------------


@njit(**JIT)
def _where(ts):  # noqa: ANN001
    p = (ts % PERIOD_S) / PERIOD_S * BUCKETS - 0.5
    i = int(p // 1.0)
    return i % BUCKETS, (i + 1) % BUCKETS, p - i


@njit(**JIT)
def _seasonal(season, r, ts):  # noqa: ANN001
    i0, i1, w = _where(ts)
    return season[r, i0] + w * (season[r, i1] - season[r, i0])


@njit(**JIT)
def expected(F, season, r, ts):  # noqa: ANN001, N803
    """The value the reference expects at ``ts`` (level + hour-of-day offset)."""
    return F[r, REF_LEVEL] + _seasonal(season, r, ts)


@njit(**JIT)
def sigma(F, r, P):  # noqa: ANN001, N803
    """The reference's sigma: its robust spread, floored (``SeasonalBaseline.sigma``)."""
    return F[r, REF_SPREAD] * MAD_TO_SIGMA + P[P_MIN_SCALE]


@njit(**JIT)
def expected_mean(F, r):  # noqa: ANN001, N803
    """The reference's level averaged over the day (``SeasonalBaseline.expected_mean``)."""
    return F[r, REF_LEVEL] + F[r, REF_TOTAL] / BUCKETS


@njit(**JIT)
def _learn_ref(F, IX, season, counts, r, ts, x, P):  # noqa: ANN001, N803
    if IX[r, REF_N] == 0:
        F[r, REF_LEVEL] = x
    i0, i1, w = _where(ts)
    n = IX[r, REF_N] = IX[r, REF_N] + 1
    alpha = P[P_ALPHA]
    a = 1.0 / n if n < 1.0 / alpha else alpha
    seasonal = season[r, i0] + w * (season[r, i1] - season[r, i0])
    res = x - F[r, REF_LEVEL] - seasonal
    bound = CLIP * sigma(F, r, P) if n > 10 else abs(res)
    rc = res if -bound <= res <= bound else (bound if res > 0 else -bound)
    F[r, REF_SPREAD] += a * (abs(rc) - F[r, REF_SPREAD])
    F[r, REF_LEVEL] += a * rc
    e = x - F[r, REF_LEVEL] - seasonal - (res - rc)
    near = i1 if w >= 0.5 else i0
    c = counts[r, near] = counts[r, near] + 1
    sa = 1.0 / (c + 1) if c * SEASON_ALPHA < 1.0 else SEASON_ALPHA
    season[r, i0] += sa * (1.0 - w) * e
    season[r, i1] += sa * w * e
    F[r, REF_TOTAL] += sa * e


@njit(**JIT)
def _cusum(F, IX, season, counts, r, ts, x, P):  # noqa: ANN001, N803
    """``Cusum.update``: learn, then the sum toward the direction."""
    bucket = int((ts % PERIOD_S) / PERIOD_S * BUCKETS) % BUCKETS
    ready = IX[r, REF_N] >= P[P_WARMUP] and counts[r, bucket] >= MIN_COUNT
    if ready:
        z = F[r, LAST_Z] = (x - expected(F, season, r, ts)) / sigma(F, r, P)
        z = Z_CAP if z > Z_CAP else (-Z_CAP if z < -Z_CAP else z)
        up = F[r, UP] + z - P[P_K]
        down = F[r, DOWN] - z - P[P_K]
        F[r, UP] = up if up > 0.0 else 0.0
        F[r, DOWN] = down if down > 0.0 else 0.0
    else:
        F[r, LAST_Z] = 0.0
    if not ready or (F[r, UP] < RELEARN and F[r, DOWN] < RELEARN):
        _learn_ref(F, IX, season, counts, r, ts, x, P)
    if P[P_DIRECTION] > 0:
        return F[r, UP]
    if P[P_DIRECTION] < 0:
        return F[r, DOWN]
    return F[r, UP] if F[r, UP] > F[r, DOWN] else F[r, DOWN]


@njit(**JIT)
def accept(F, IX, r, level, P):  # noqa: ANN001, N803
    """``Cusum.accept``: take ``level`` as the new normal where warm; reset the sums."""
    if level == level and IX[r, REF_N] >= P[P_WARMUP]:
        F[r, REF_LEVEL] += level - expected_mean(F, r)
    F[r, UP] = 0.0
    F[r, DOWN] = 0.0
