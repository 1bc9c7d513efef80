"""Every stream of one metric of one product model: state arrays and the compiled kernel.

:class:`StreamBlock` is :class:`anomaly.stream.MetricStream` for many devices at once:
the same detectors, evidence, score and alarm, run by the numba kernel
(``kernel_stream.run``) over per-row state arrays. ``update(rows, ts, xs)`` takes values
in order (a row may appear many times) and returns their alarm edges (``NONE``,
``ANOMALY``, ``RECOVERY``); ``snaps`` then holds, per value, the numbers an event needs
as they were right after that value. ``tests/anomaly/test_block.py`` holds it to
MetricStream's results, so MetricStream stays the readable reference.
"""

from __future__ import annotations

import math
import time

import numpy as np

from anomaly import kernel as k
from anomaly.cohort import CohortFilter
from anomaly.kernel_stream import ANOMALY, NONE, RECOVERY, run, snapshot
from anomaly.stream import StreamConfig, scale_floor
from core.profiles import MetricSpec

__all__ = ["ANOMALY", "NONE", "RECOVERY", "StreamBlock", "params", "warm_up"]
ARRAYS = ("F", "IX", "season", "counts", "means")


def params(spec: MetricSpec, cfg: StreamConfig) -> np.ndarray:
    """The kernel's parameter vector for one metric."""
    p = np.zeros(k.N_P)
    up = spec.direction == "up"
    values = {
        k.P_SMOOTH_ALPHA: cfg.smooth_alpha,
        k.P_CUSUM_H: cfg.cusum_h,
        k.P_T_MIN: cfg.t_min,
        k.P_HORIZON_DAYS: cfg.horizon_days,
        k.P_DRIFT_FITS: cfg.drift_fits,
        k.P_P_BIG: cfg.p_big,
        k.P_OUT_FRAC: cfg.out_frac,
        k.P_FLAT_N: cfg.flat_n,
        k.P_SPIKE_DECAY: cfg.spike_decay,
        k.P_SPIKE_Z: cfg.spike_z,
        k.P_SPIKE_BACK_N: cfg.spike_back_n,
        k.P_SPIKE_CAP: cfg.spike_cap,
        k.P_SPIKE_MAX_RUN: cfg.spike_max_run,
        k.P_SPIKE_MASS: cfg.spike_mass,
        k.P_ALARM_M: cfg.alarm_m,
        k.P_ALARM_N: cfg.alarm_n,
        k.P_CLEAR: cfg.clear,
        k.P_CLEAR_N: cfg.clear_n,
        k.P_SUPPRESS_S: cfg.suppress_s,
        k.P_REBASE_DAYS: cfg.rebase_days,
        k.P_SIGN: 1.0 if up else -1.0,
        k.P_EDGE: spec.normal[1] if up else spec.normal[0],
        k.P_LIMIT: spec.limit,
        k.P_DIRECTION: 1.0 if up else -1.0,
        k.P_K: cfg.cusum_k,
        k.P_ALPHA: cfg.cusum_alpha,
        k.P_WARMUP: cfg.warmup,
        k.P_LAG: cfg.trend_lag,
        k.P_BUCKET_S: 3600.0,
        k.P_MIN_PAIRS: cfg.trend_min_pairs,
        k.P_STEP_VETO: cfg.step_veto,
        k.P_QUANTILE: cfg.trend_quantile,
        k.P_ACCEL_Z: cfg.accel_z,
        k.P_RAMP_N: 3,
        k.P_RAMP_Z: 8.0,
        k.P_HALF: (spec.normal[1] - spec.normal[0]) / 2.0,
        k.P_FLAT_ALPHA: cfg.flat_alpha,
        k.P_VAR_ALPHA: cfg.var_alpha,
        k.P_COLLAPSE: cfg.collapse,
        k.P_MIN_SCALE: scale_floor(spec),
        k.P_MOTION_N: cfg.motion_n,
        k.P_STEP_S: cfg.step_hours * 3600.0,
        k.P_MOVED: cfg.drift_moved,
        k.P_FIT: cfg.trend_fit,
        k.P_COUPLING: cfg.trend_coupling,
        k.P_FIT_FAST: cfg.trend_fit_fast,
        k.P_FAST_COUPLING: cfg.fast_coupling,
        k.P_WANDER_Z: cfg.wander_z,
        k.P_LEVEL_WANDER_Z: cfg.level_wander_z,
        k.P_RAMP_WANDER_Z: cfg.ramp_wander_z,
        k.P_DETREND: cfg.trend_detrend,
        k.P_NOW: cfg.drift_now,
        k.P_ACCEL_SOFT: cfg.accel_soft,
        k.P_VETO_BEND: cfg.veto_bend,
    }
    for index, value in values.items():
        p[index] = value
    return p


class StreamBlock:
    """Rows of state for one (model, metric), updated by the compiled kernel."""

    # version 2: variance-collapse flatline, device's own edge; 3: a jump resets the trend;
    # 4: a jump into the normal range becomes the device's own level once settled;
    # 5: an excursion the cohort shared is not counted (COMMON, RUN_COMMON, RUN_PEAK);
    # 6: the trend keeps the cohort's common movement per bucket beside its means;
    # 7: the two-day fit and the unit's own day-to-day wander (T_TFAST, T_DL, T_DLVAR);
    # 8: a step while the CUSUM is already out is a jump (GAIN_AT .. GAIN_JUMP);
    # 9: a sample-and-hold sensor's repeats count toward an excursion less its deadband;
    # 10: ... and toward a flatline by the evidence of a stuck sensor (HOLD_RATE, FLAT
    # moves to F: a count that grows by fractions); a jump holds the cohort filter's
    # learning from the row until its reference learns again (STEPPED);
    # 11: a second set of gain windows, half a window later (GAIN_AT2 .. GAIN_PREV2);
    # 12: each set's gain in the window before its last (GAIN_OLD, GAIN_OLD2: STEEPER);
    # 13: a step away from the limit, held, is re-baselined (AWAY_CALM, AWAY_STEP);
    # 14: a move toward the limit the unit came back from is learned as its wander
    # (T_HELD_SQ .. T_HELD_AT)
    name, version = "stream", 14

    def __init__(self, spec: MetricSpec, cfg: StreamConfig, capacity: int = 16) -> None:
        self.spec, self.cfg, self.base = spec, cfg, cfg
        self.interval = math.nan
        self.sign = 1.0 if spec.direction == "up" else -1.0
        self.P = params(spec, cfg)
        self.size = 0
        self._allocate(capacity)
        self.snaps = np.zeros((0, k.N_S))

    def _allocate(self, capacity: int) -> None:
        self.F = np.zeros((capacity, k.N_F))
        nan = [k.LAST, k.FLAT_SINCE, k.STARTED_AT, k.T_LEVEL, k.T_ETA, k.HOME]
        nan += [k.CALM_AT, k.OUT_AT, k.JUMP_AT, k.GAIN_AT, k.GAIN_FROM, k.GAIN_PREV, k.GAIN_JUMP]
        nan += [k.GAIN_AT2, k.GAIN_FROM2, k.GAIN_PREV2, k.GAIN_OLD, k.GAIN_OLD2]
        nan += [k.HOLD_LAST, k.HOLD_PREV, k.HOLD_JUMP, k.STEPPED, k.AWAY_CALM, k.AWAY_STEP]
        self.F[:, nan] = math.nan
        self.F[:, k.HOLD_REVISIT] = 0.5  # unknown until the sensor has changed ~20 times
        self.F[:, k.QUIET_UNTIL] = -math.inf
        self.IX = np.zeros((capacity, k.N_I), dtype=np.int64)
        self.IX[:, k.T_BUCKET] = -1
        self.season = np.zeros((capacity, k.BUCKETS))
        self.counts = np.zeros((capacity, k.BUCKETS), dtype=np.int64)
        self.means = np.full((capacity, 2, self.cfg.trend_window), math.nan)

    def set_interval(self, interval_s: float) -> None:
        """Parameters for a stream measured to report every ``interval_s`` seconds."""
        if interval_s == interval_s:
            self.interval = interval_s
            self.cfg = self.base.for_interval(interval_s)
            self.P = params(self.spec, self.cfg)

    def add(self, key: str = "") -> int:
        """A new row in its initial state; returns its index (``key``: unused)."""
        if self.size == len(self.F):
            old = {name: getattr(self, name) for name in ARRAYS}
            self._allocate(2 * len(self.F))
            for name, array in old.items():
                getattr(self, name)[: len(array)] = array
        self.size += 1
        return self.size - 1

    def update(self, rows: np.ndarray, ts: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Score each value on its row, in order, learning as it goes; the alarm edges."""
        edges = np.zeros(len(rows), dtype=np.int64)
        self.snaps = np.empty((len(rows), k.N_S))
        run(
            self.F,
            self.IX,
            self.season,
            self.counts,
            self.means,
            rows,
            ts,
            xs,
            self.P,
            edges,
            self.snaps,
        )
        return edges

    def fired(self, snap: np.ndarray) -> tuple[str, ...]:
        """Names of the detectors whose evidence was above their own threshold."""
        cfg, names = self.cfg, []
        if snap[k.S_DRIFT] >= 1.0:
            names += ["cusum", "trend"]
        if snap[k.S_RAMPING] >= 1.0:
            names.append("ramp")
        if snap[k.S_LEVEL_FRAC] >= cfg.p_big:
            names.append("level")
        if snap[k.S_OUT] >= cfg.out_frac:
            names.append("normal-range")
        if snap[k.S_SPIKES] >= cfg.spike_mass:
            names.append("excursions")
        if snap[k.S_FLAT] >= cfg.flat_n:
            names.append("variance-collapse")
        if self.sign * (snap[k.S_SMOOTH] - self.spec.limit) >= 0.0:
            names.append("limit")
        return tuple(names)

    def snapshot(self, row: int, ts: float) -> np.ndarray:
        """The numbers of ``row`` now, as ``snaps`` holds them after an update."""
        out = np.empty(k.N_S)
        snapshot(self.F, self.IX, self.season, row, ts, out)
        return out

    def level_frac(self, row: int) -> float:
        return float(self.F[row, k.LEVEL_FRAC])

    def room_frac_per_day(self) -> np.ndarray:
        """Every row's trend toward the limit per day, as a share of its room."""
        F = self.F[: self.size]
        room = np.abs(self.spec.limit - (F[:, k.REF_LEVEL] + F[:, k.REF_TOTAL] / k.BUCKETS))
        room = np.where(room == 0.0, 1e-9, room)
        return self.sign * F[:, k.T_SLOPE] / room

    def level_fracs(self) -> np.ndarray:
        return self.F[: self.size, k.LEVEL_FRAC]

    def accept(self, row: int) -> None:
        """Take the row's smoothed level of the last hours as normal (a false positive).

        The reference moves there and the drift and excursion evidence is forgotten;
        the alarm clears the usual way once the scores stay low. The profile's normal
        range and limit still apply: they are absolute.
        """
        k.accept(self.F, self.IX, row, self.F[row, k.DESEASON], self.P)
        self.F[row, k.SPIKES] = 0.0
        self.F[row, k.FLAT_SINCE] = math.nan
        self.IX[row, k.HOT] = 0

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name)[: self.size].copy() for name in ARRAYS}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        size = len(state["F"])
        self._allocate(max(16, size))
        for name in ARRAYS:
            getattr(self, name)[:size] = state[name]
        self.size = size


def warm_up() -> float:
    """Compile (or load from numba's cache) the kernel now; seconds it took.

    The first start compiles for ~10 s and caches the machine code; later starts load it
    in well under a second. Called at engine start so no batch waits for it.
    """
    spec = MetricSpec(unit="", normal=(0.0, 1.0), limit=2.0, direction="up")
    started = time.perf_counter()
    block = StreamBlock(spec, StreamConfig(), capacity=1)
    block.update(np.array([block.add()]), np.array([0.0]), np.array([0.5]))
    cohort = CohortFilter()  # and the cohort filter's loop, which runs it in the bank
    cohort.run(block, np.array([cohort.add()]), np.array([600.0]), np.array([0.5]))
    return time.perf_counter() - started
