"""What the devices around a stream share, taken out before its detectors see it.

Real fleets move together: a hot spell raises every outdoor unit's compressor current in
a region, a public holiday changes every household's usage. :class:`CohortFilter` keeps,
per cohort (the devices of one product model in one region, or the whole model when the
region is unknown), the common movement of the last ``tau_s``: an exponentially weighted
mean of each device's deviation from its *own* learned seasonal reference (clipped at
``clip`` sigma around the current estimate, so one failing device moves it little),
times the device's own coupling to it (learned, 0.5-1.5). Each value then reaches the
detectors minus that: what is left is what this device does unlike its peers. A fault is
the device's own; weather is everyone's.

Cohort keys are paths (``"Asia/Tokyo/region-3"``: a region inside a time zone). A
cohort of fewer than ``min_devices`` devices borrows its parent's common movement
(``"Asia/Tokyo"``, which shares the region's weekends but only part of its weather, so
the coupling to it may fall to zero); a key without ``/`` falls back on the whole model.

It also holds back the first ``settle_s`` after a device was silent for more than
``gap_s`` (a power cut ends with a cold start that settles within the hour), and it
measures the stream's cadence so that the detectors' parameters, set in time, become
counts of readings (``StreamConfig.for_interval``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly import kernel_cohort as kc
from anomaly.kernel import N_S

if TYPE_CHECKING:  # the block is handed in; it imports this module for its warm-up
    from anomaly.block import StreamBlock

CADENCE_SAMPLES = 400  # intervals seen before the cadence is fixed
DEFAULT_INTERVAL_S = 600.0


@dataclass(frozen=True, slots=True)
class CohortConfig:
    """Time constants of the cohort filter (seconds)."""

    tau_s: float = 1800.0
    gap_s: float = 900.0
    settle_s: float = 5400.0
    min_devices: float = 3.0
    clip: float = 3.0
    beta_s: float = 5 * 86400.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parent(key: str) -> str:
    """The wider cohort of ``key``: cohort keys are paths, e.g. ``"Asia/Tokyo/region-3"``
    (a region inside a time zone); the parent drops the last part, and a key without a
    ``/`` has the whole product model (``""``) as its parent."""
    return key.rsplit("/", 1)[0] if "/" in key else ""


class CohortFilter:
    """Rows parallel to one StreamBlock's, one line of state per cohort, the cadence."""

    name, version = "cohort", 3  # 2: a cohort and a parent per row; 3: its past common

    def __init__(self, cfg: CohortConfig | None = None, capacity: int = 16) -> None:
        self.cfg = cfg or CohortConfig()
        self.size = 0
        self.R = self._rows(capacity)
        self.cohort = np.zeros((capacity, 2), dtype=np.int64)  # own, parent
        self.C = np.zeros((0, kc.N_C))
        self.keys: dict[str, int] = {}
        self.K = np.array([0.0, math.nan, 0.0])
        self.D = np.zeros(CADENCE_SAMPLES)
        self.Q = np.zeros(kc.N_Q)
        cfg = self.cfg
        self.Q[kc.Q_TAU_S], self.Q[kc.Q_GAP_S] = cfg.tau_s, cfg.gap_s
        self.Q[kc.Q_SETTLE_S], self.Q[kc.Q_MIN_DEVICES] = cfg.settle_s, cfg.min_devices
        self.Q[kc.Q_CLIP], self.Q[kc.Q_INTERVAL_S] = cfg.clip, DEFAULT_INTERVAL_S
        self.Q[kc.Q_BETA_S] = cfg.beta_s

    @staticmethod
    def _rows(n: int) -> np.ndarray:
        rows = np.full((n, kc.N_R), math.nan)
        rows[:, [kc.R_SXY, kc.R_SXX]] = 0.0
        return rows

    @property
    def interval(self) -> float:
        """The stream's measured cadence in seconds (NaN until measured)."""
        return float(self.K[kc.K_INTERVAL])

    def add(self, key: str = "") -> int:
        """A row for a device of cohort ``key``; returns its index."""
        if self.size == len(self.R):
            grow = len(self.R)
            self.R = np.vstack([self.R, self._rows(grow)])
            self.cohort = np.vstack([self.cohort, np.zeros((grow, 2), dtype=np.int64)])
        c, p = self._key(key), self._key(parent(key))
        self.C[c, kc.C_ROWS] += 1
        if p != c:
            self.C[p, kc.C_ROWS] += 1
        self.cohort[self.size] = (c, p)
        self.size += 1
        return self.size - 1

    def _key(self, key: str) -> int:
        c = self.keys.get(key)
        if c is None:
            c = self.keys[key] = len(self.C)
            self.C = np.vstack([self.C, np.zeros((1, kc.N_C))])
        return c

    def run(
        self, block: StreamBlock, rows: np.ndarray, ts: np.ndarray, xs: np.ndarray
    ) -> np.ndarray:
        """``block.update`` behind the filter: the values less their cohort's common
        movement, settling rows not scored; the alarm edges (``block.snaps`` filled).

        Once the cadence is measured, ``block`` gets its parameters for it
        (``StreamBlock.set_interval``) from the next value on.
        """
        edges = np.zeros(len(rows), dtype=np.int64)
        block.snaps = np.empty((len(rows), N_S))
        at = 0
        while at < len(rows):
            at = kc.run_filtered(
                block.F,
                block.IX,
                block.season,
                block.counts,
                block.means,
                self.R,
                self.C,
                self.cohort,
                self.K,
                self.D,
                rows,
                ts,
                xs,
                block.P,
                self.Q,
                edges,
                block.snaps,
                at,
            )
            if self.K[kc.K_FIXED] == 2.0 and block.interval != self.interval:
                block.set_interval(self.interval)
        return edges

    def attach(self, block: StreamBlock) -> None:
        """After a restore: give ``block`` the parameters of the measured cadence."""
        block.set_interval(self.interval)

    def state_dict(self) -> dict[str, np.ndarray]:
        keys = sorted(self.keys, key=self.keys.__getitem__)
        return {
            "R": self.R[: self.size].copy(),
            "cohort": self.cohort[: self.size].copy(),
            "C": self.C.copy(),
            "keys": np.array(keys, dtype=str),
            "K": self.K.copy(),
            "D": self.D.copy(),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        size = len(state["R"])
        self.R = self._rows(max(16, size))
        self.R[:size] = state["R"]
        self.cohort = np.zeros((max(16, size), 2), dtype=np.int64)
        self.cohort[:size] = np.asarray(state["cohort"]).reshape(size, 2)
        self.C = np.array(state["C"], dtype=float).reshape(-1, kc.N_C)
        self.keys = {str(k): i for i, k in enumerate(state["keys"].tolist())}
        self.K, self.D = state["K"].astype(float), state["D"].astype(float)
        self.size = size
