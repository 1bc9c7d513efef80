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


@dataclass(frozen=True, slots=True)
class FailureArrays:
    """Injected failures of one block: ``rows`` index the block's devices."""

    rows: np.ndarray  # (f,)
    effect: np.ndarray  # (f, m): severity -> shift per metric
    severity: np.ndarray  # (f, n_ticks)
    stuck_rows: np.ndarray  # (s,)
    stuck_cols: np.ndarray  # (s,)
    stuck_values: np.ndarray  # (s, n_ticks), NaN where not stuck

    def subset(self, pos: np.ndarray) -> FailureArrays:
        """Keep the devices with ``pos[row] >= 0``, renumbered to ``pos[row]``."""
        keep, stuck = pos[self.rows] >= 0, pos[self.stuck_rows] >= 0
        return FailureArrays(
            pos[self.rows][keep],
            self.effect[keep],
            self.severity[keep],
            pos[self.stuck_rows][stuck],
            self.stuck_cols[stuck],
            self.stuck_values[stuck],
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
    outages: np.ndarray  # (o, 3): row, start, end

    def times(self, ks: np.ndarray) -> np.ndarray:
        return self.start_ts + ks * self.step_s

    def underlying(self, ks: np.ndarray) -> np.ndarray:
        """Noise-free values at tick indices ``ks``: array (len(ks), n, m)."""
        t = self.times(ks)
        daily = np.sin(TWO_PI * t[:, None] / 86400.0 + self.phase[None, :])
        out = self.level[None] + self.amplitude[None] * daily[:, :, None]
        benign_offsets(self.benign, t, out)
        f = self.failures
        if len(f.rows):
            sev = f.severity[:, ks].T  # (T, f)
            out[:, f.rows, :] += sev[:, :, None] * f.effect[None]
        if len(f.stuck_rows):
            stuck = f.stuck_values[:, ks].T  # (T, s)
            current = out[:, f.stuck_rows, f.stuck_cols]
            out[:, f.stuck_rows, f.stuck_cols] = np.where(np.isnan(stuck), current, stuck)
        return np.asarray(out, dtype=float)

    def frame(self, k: int, rng: np.random.Generator, realism: Realism) -> Frame:
        """What the devices report at tick ``k``: noise, clipping, rounding, dropouts."""
        values = self.underlying(np.array([k]))[0]
        noise = rng.standard_normal(values.shape) * self.sigma
        f = self.failures
        if len(f.stuck_rows):
            frozen = ~np.isnan(f.stuck_values[:, k])
            noise[f.stuck_rows[frozen], f.stuck_cols[frozen]] = 0.0
        values = np.clip(values + noise, self.valid[0], self.valid[1])
        values = np.round(values, realism.decimals)
        present = rng.random(len(self.device_ids)) >= realism.drop_reading
        values[rng.random(values.shape) < realism.drop_metric] = np.nan
        ts = float(self.times(np.array([k]))[0])
        if len(self.outages):
            down = (self.outages[:, 1] <= ts) & (ts < self.outages[:, 2])
            present[self.outages[down, 0].astype(int)] = False
        return Frame(ts, self.model, self.device_ids, self.metrics, values, present)

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
        )


def _remap(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Keep rows of ``table`` whose first column is a kept device, renumbered."""
    if not len(table):
        return table
    new = pos[table[:, 0].astype(int)]
    out = table[new >= 0].copy()
    out[:, 0] = new[new >= 0]
    return np.asarray(out, dtype=float)
