"""Vectorised signals of all devices of one product model: level, daily cycle, noise.

A ``ModelBlock`` holds per-device parameters as arrays (one row per device, one column
per metric). ``underlying(ks)`` is the noise-free value at tick indices ``ks`` (level +
daily cycle + benign shifts + failure effects); ``frame(k, rng)`` adds noise and
dropouts and is what devices report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.benign import benign_offsets
from simulator.confounders import Life

TWO_PI = 2.0 * np.pi


@dataclass(frozen=True, slots=True)
class Realism:
    """Knobs of data quality; the defaults look like a real consumer fleet."""

    drop_reading: float = 0.01
    drop_metric: float = 0.005
    outage_share: float = 0.1
    outage_hours: tuple[float, float] = (1.0, 12.0)
    decimals: int = 3


@dataclass(frozen=True, slots=True)
class Frame:
    """One tick of one product model: ``values[row, col]``, NaN where a metric is missing.

    Rows with ``present[row]`` False sent nothing at this tick.
    """

    ts: float
    model: str
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    values: np.ndarray
    present: np.ndarray
    offsets: np.ndarray | None = None  # per row, seconds after ``ts`` (clock jitter)
    late: np.ndarray | None = None  # per row, True: held back, delivered after an outage


@dataclass(frozen=True, slots=True)
class FailureArrays:
    """Injected failures of one block: ``rows`` index the block's devices."""

    rows: np.ndarray  # (f,)
    effect: np.ndarray  # (f, m): severity -> shift per metric
    severity: np.ndarray  # (f, n_ticks)
    stuck_rows: np.ndarray  # (s,)
    stuck_cols: np.ndarray  # (s,)
    stuck_values: np.ndarray  # (s, n_ticks), NaN where not stuck
    stuck_dither: np.ndarray  # (s,) a dithering stuck sensor's LSB (0: exact repeats)
    noise_rows: np.ndarray  # (g,) growing-noise failures: row
    noise_cols: np.ndarray  # (g,) and column
    noise_scale: np.ndarray  # (g, n_ticks) extra noise sigma, profile units

    def subset(self, pos: np.ndarray) -> FailureArrays:
        """Keep the devices with ``pos[row] >= 0``, renumbered to ``pos[row]``."""
        keep, stuck = pos[self.rows] >= 0, pos[self.stuck_rows] >= 0
        noisy = pos[self.noise_rows] >= 0
        return FailureArrays(
            pos[self.rows][keep],
            self.effect[keep],
            self.severity[keep],
            pos[self.stuck_rows][stuck],
            self.stuck_cols[stuck],
            self.stuck_values[stuck],
            self.stuck_dither[stuck],
            pos[self.noise_rows][noisy],
            self.noise_cols[noisy],
            self.noise_scale[noisy],
        )


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """Per-device arrays for one model; see module docstring."""

    model: str
    device_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    start_ts: float
    step_s: float
    level: np.ndarray  # (n, m)
    amplitude: np.ndarray  # (n, m)
    phase: np.ndarray  # (n,)
    sigma: np.ndarray  # (n, m)
    valid: np.ndarray  # (2, m)
    benign: np.ndarray  # (b, 5): row, col, start, end, shift
    failures: FailureArrays
    outages: np.ndarray  # (o, 4): row, start, end, late (1: readings delivered at the end)
    life: Life  # the confounders (simulator.confounders)

    def times(self, ks: np.ndarray) -> np.ndarray:
        return self.start_ts + ks * self.step_s

    def underlying(self, ks: np.ndarray) -> np.ndarray:
        """Noise-free values at tick indices ``ks``: array (len(ks), n, m)."""
        t = self.times(ks)
        daily = np.sin(TWO_PI * t[:, None] / 86400.0 + self.phase[None, :])
        out = self.level[None] + self.amplitude[None] * daily[:, :, None]
        benign_offsets(self.benign, t, out)
        self.life.offsets(t, out)
        f = self.failures
        if len(f.rows):
            sev = f.severity[:, ks].T  # (T, f)
            shift = sev[:, :, None] * f.effect[None]  # (T, f, m)
            if len(np.unique(f.rows)) == len(f.rows):
                out[:, f.rows, :] += shift
            else:  # a device with two faults: both shifts add up
                for j, row in enumerate(f.rows.tolist()):
                    out[:, row, :] += shift[:, j, :]
        if len(f.stuck_rows):
            stuck = f.stuck_values[:, ks].T  # (T, s)
            current = out[:, f.stuck_rows, f.stuck_cols]
            out[:, f.stuck_rows, f.stuck_cols] = np.where(np.isnan(stuck), current, stuck)
        return np.asarray(out, dtype=float)

    def frame(
        self,
        k: int,
        rng: np.random.Generator,
        realism: Realism,
        memory: np.ndarray | None = None,
        life_rng: np.random.Generator | None = None,
    ) -> Frame:
        """What the devices report at tick ``k``: noise, clipping, rounding, dropouts.

        ``memory`` (the values last reported, updated here) and ``life_rng`` serve the
        confounders: sample-and-hold sensors, cadence, clock jitter.
        """
        values = self.underlying(np.array([k]))[0]
        noise = rng.standard_normal(values.shape) * self.sigma
        f = self.failures
        if len(f.noise_rows):
            extra = f.noise_scale[:, k] * rng.standard_normal(len(f.noise_rows))
            noise[f.noise_rows, f.noise_cols] += extra
        if len(f.stuck_rows):
            frozen = ~np.isnan(f.stuck_values[:, k])
            dither = np.zeros(len(f.stuck_rows))
            if f.stuck_dither.any():  # a stuck sensor that flips its last bit
                dither = f.stuck_dither * rng.integers(-1, 2, len(f.stuck_rows))
            noise[f.stuck_rows[frozen], f.stuck_cols[frozen]] = dither[frozen]
        values = np.clip(values + noise, self.valid[0], self.valid[1])
        if memory is not None:
            values = self.life.sense(values, memory)
        values = np.round(values, realism.decimals)
        present = rng.random(len(self.device_ids)) >= realism.drop_reading
        values[rng.random(values.shape) < realism.drop_metric] = np.nan
        ts = float(self.times(np.array([k]))[0])
        late = None
        if len(self.outages):
            down = (self.outages[:, 1] <= ts) & (ts < self.outages[:, 2])
            lost = down & (self.outages[:, 3] == 0)
            present[self.outages[lost, 0].astype(int)] = False
            if (down & ~lost).any():
                late = np.zeros(len(present), bool)
                late[self.outages[down & ~lost, 0].astype(int)] = True
        offsets = None
        if life_rng is not None:
            present &= self.life.reporting(k, ts)
            if self.life.jitter_s:
                offsets = np.round(life_rng.uniform(0, self.life.jitter_s, len(present)), 3)
        if memory is not None:
            memory[present] = np.where(np.isnan(values[present]), memory[present], values[present])
        return Frame(ts, self.model, self.device_ids, self.metrics, values, present, offsets, late)

    def subset(self, rows: np.ndarray) -> ModelBlock:
        """The same block restricted to ``rows`` (used to trace a few devices cheaply)."""
        pos = np.full(len(self.device_ids), -1)
        pos[rows] = np.arange(len(rows))
        return ModelBlock(
            model=self.model,
            device_ids=tuple(self.device_ids[r] for r in rows),
            metrics=self.metrics,
            start_ts=self.start_ts,
            step_s=self.step_s,
            level=self.level[rows],
            amplitude=self.amplitude[rows],
            phase=self.phase[rows],
            sigma=self.sigma[rows],
            valid=self.valid,
            benign=_remap(self.benign, pos),
            failures=self.failures.subset(pos),
            outages=_remap(self.outages, pos),
            life=self.life.subset(rows, pos),
        )


def _remap(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Keep rows of ``table`` whose first column is a kept device, renumbered."""
    if not len(table):
        return table
    new = pos[table[:, 0].astype(int)]
    out = table[new >= 0].copy()
    out[:, 0] = new[new >= 0]
    return np.asarray(out, dtype=float)
