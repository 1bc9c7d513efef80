"""Benign changes: real shifts in a device's data that are not faults.

Each keeps the metric inside its normal range, so no case should open for it:

- ``relocation``: the device was moved (a warmer room, a different circuit); two
  metrics step to a new level at the same moment.
- ``firmware``: a firmware update shifts one metric's level from one tick on.
- ``seasonal``: one metric drifts slowly across the whole window.
- ``replacement`` (with confounders): the unit was replaced; every metric steps to the
  new unit's level at the same moment, after a few hours off.
- ``recalibration`` (with confounders): one sensor was recalibrated; its metric steps.

With confounders, ``benign()`` also lists device-level conditions as rows with an empty
or named metric and no shift (``revision_b``, ``power_cut``, ``fast_sampling``,
``late_batch``, ``sample_hold``, ``quantised``, ``weekly``, ``weather``), so the
scorecard can count false cases per condition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.profiles import DeviceProfile

KINDS = ("relocation", "firmware", "seasonal")
LIFE_KINDS = ("replacement", "recalibration")


@dataclass(frozen=True, slots=True)
class BenignChange:
    """A shift of ``shift`` in ``metric``, ramping in from ``start_ts`` to ``end_ts``.

    A step when ``end_ts == start_ts``.
    """

    kind: str
    metric: str
    start_ts: float
    end_ts: float
    shift: float


@dataclass(frozen=True, slots=True)
class BenignTruth:
    """One benign change of one device: a row of the offline ``benign.json``."""

    device_id: str
    model: str
    kind: str
    metric: str
    start_ts: float
    end_ts: float
    shift: float


def draw_benign(
    rng: np.random.Generator,
    profile: DeviceProfile,
    levels: dict[str, float],
    window: tuple[float, float],
    kinds: tuple[str, ...] = KINDS,
) -> tuple[BenignChange, ...]:
    """One benign event for a device whose per-metric base levels are ``levels``."""
    start, end = window
    span = end - start
    kind = kinds[int(rng.integers(len(kinds)))]
    names = sorted(profile.metrics)
    count = 2 if kind == "relocation" and len(names) > 1 else 1
    count = len(names) if kind == "replacement" else count
    chosen = [names[i] for i in sorted(rng.choice(len(names), size=count, replace=False))]
    if kind == "seasonal":
        t0, t1 = start, end
    else:
        t0 = t1 = float(rng.uniform(start + 0.3 * span, end - 0.1 * span))
    return tuple(BenignChange(kind, m, t0, t1, _shift(rng, profile, m, levels[m])) for m in chosen)


def _shift(rng: np.random.Generator, profile: DeviceProfile, metric: str, level: float) -> float:
    """A shift of at least a fifth of the normal width that stays inside the normal range."""
    lo, hi = profile.metrics[metric].normal
    width, mid = hi - lo, (lo + hi) / 2
    if level < mid:
        target = rng.uniform(mid + 0.1 * width, hi - 0.05 * width)
    else:
        target = rng.uniform(lo + 0.05 * width, mid - 0.1 * width)
    return float(target - level)


def benign_offsets(table: np.ndarray, t: np.ndarray, out: np.ndarray) -> None:
    """Add benign shifts to ``out[time, row, column]`` at times ``t``.

    ``table`` has one row per change: (row, column, start_ts, end_ts, shift); each
    (row, column) pair appears once.
    """
    if not len(table):
        return
    rows, cols = table[:, 0].astype(int), table[:, 1].astype(int)
    start, end, shift = table[:, 2], table[:, 3], table[:, 4]
    ramp = np.maximum(end - start, 1e-9)
    frac = np.clip((t[:, None] - start) / ramp, 0.0, 1.0)
    frac = np.where(end > start, frac, (t[:, None] >= start).astype(float))
    out[:, rows, cols] += frac * shift
