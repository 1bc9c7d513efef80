"""Failure injectors: how far a failure has progressed at each tick.

A failure's *severity* is the fraction of the distance from the normal midpoint to the
user-visible limit by which it moves each metric (times the profile's ``effects``).
Severity 1.0 puts the primary metric's midpoint exactly on its limit.

Shapes, by the profile's ``kind``:

- ``gradual`` ("accelerating"): ``((t - onset) / duration) ** power``, power 1.6-2.6.
- ``intermittent`` ("episodes"): episodes of a few hours that come more often and go
  deeper as time passes; severity is zero between them.
- ``sudden`` ("step"): a short precursor (6-48 h of the metric creeping to 0.3), then a
  step to 1.3. Motor overloads and similar trips announce themselves briefly.
- ``sensor``: either ``stuck`` (the reading freezes at the device's level, then the
  sensor fails to a rail reading beyond the limit) or ``spikes`` (single-reading spikes
  towards the limit, growing in size and rate).

With the extended shapes (``shapes=True``, the ``shapes`` confounder switch) a failure
may also take one of these forms:

- gradual ``exponential``: ``(e^(s/tau) - 1) / (e^(d/tau) - 1)``, tau = d/2..d/4;
- gradual ``saturating``: ``S (1 - e^(-s/tau))`` with an asymptote S = 1.2..1.6 past the
  limit, fast at first and slowing (the customer notices it on the flattening part);
- gradual ``load``: accelerating, but scaled by the device's daily load (0.4-1.2): the
  fault shows at peak hours first;
- sensor ``dither``: stuck like ``stuck``, but the reading flips its last bit;
- sensor ``noise``: the mean stays, the noise grows (``(s/d)^1.5``); the customer
  notices when the two-sigma swings reach the limit;
- intermittent ``episodes`` and sudden ``step`` as before;
- sudden ``power_step``: the device loses power for 0.5-3 h (no readings) and comes back
  damaged (a surge): a step to 0.45 of the way at the power-on, then a creep to the
  limit over 2-6 days. Without the creep it would look like a replaced unit; the
  level past the normal range and still moving is what makes it a fault.

``plan_second`` draws a second, independent fault on an already failing device (a
mode with another primary metric), for the "two faults on one device" shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

DAY = 86400.0
RAIL_SEVERITY = 1.4
GRADUAL = ("accelerating", "exponential", "saturating", "load")
STUCK = ("stuck", "dither")
Episodes = tuple[tuple[float, float, float], ...]


@dataclass(frozen=True, slots=True)
class FailurePlan:
    """What will happen to one device: mode, shape and its timing parameters."""

    mode: str
    kind: str
    variant: str
    onset_ts: float
    duration_s: float
    power: float = 1.0
    episodes: Episodes = ()
    outage_s: float = 0.0  # power_step: how long the device was off before the onset
    second: bool = False  # a second fault on a device that already has one


def plan_failure(
    rng: np.random.Generator,
    mode: str,
    kind: str,
    window: tuple[float, float],
    step_s: float,
    duration_s: float | None = None,
    onset_ts: float | None = None,
    shapes: bool = False,
) -> FailurePlan:
    """Draw the timing of one failure so that, usually, the limit is crossed in ``window``."""
    start, end = window
    span = end - start
    if duration_s is None:
        duration_s = float(rng.uniform(3.0, 9.0)) * DAY
        duration_s = min(duration_s, 0.55 * span)
    if onset_ts is None:
        lo, hi = start + 0.25 * span, end - 1.1 * duration_s
        onset_ts = float(rng.uniform(lo, max(lo, hi)))
    if kind == "gradual":
        power = float(rng.uniform(1.6, 2.6))
        variant = "accelerating"
        if shapes:
            variant = GRADUAL[int(rng.integers(len(GRADUAL)))]
            power = {
                "exponential": float(rng.uniform(2.0, 4.0)),
                "saturating": float(rng.uniform(1.2, 1.6)),
            }.get(variant, power)
        return FailurePlan(mode, kind, variant, onset_ts, duration_s, power)
    if kind == "intermittent":
        episodes = _intermittent_episodes(rng, onset_ts, duration_s, step_s)
        return FailurePlan(mode, kind, "episodes", onset_ts, duration_s, episodes=episodes)
    if kind == "sudden":
        precursor = min(float(rng.uniform(6.0, 48.0)) * 3600.0, duration_s)
        return FailurePlan(mode, kind, "step", onset_ts, precursor)
    if shapes and rng.random() < 0.5:
        variant = ("dither", "noise")[int(rng.integers(2))]
        hold = 0.6 if variant == "dither" else 1.0
        return FailurePlan(mode, kind, variant, onset_ts, duration_s * hold)
    if rng.random() < 0.5:
        return FailurePlan(mode, kind, "stuck", onset_ts, duration_s * 0.6)
    episodes = _spike_episodes(rng, onset_ts, duration_s, step_s, start)
    return FailurePlan(mode, kind, "spikes", onset_ts, duration_s, episodes=episodes)


def plan_power_step(rng: np.random.Generator, plan: FailurePlan) -> FailurePlan:
    """``plan`` (a sudden mode) as a step after a power event, at the same onset."""
    outage = float(rng.uniform(0.5, 3.0)) * 3600.0
    duration = float(rng.uniform(2.0, 6.0)) * DAY
    return FailurePlan(
        plan.mode, plan.kind, "power_step", plan.onset_ts, duration, 1.5, outage_s=outage
    )


def plan_second(
    rng: np.random.Generator,
    first: FailurePlan,
    modes: Mapping[str, tuple[str, str]],
    window: tuple[float, float],
    step_s: float,
) -> FailurePlan | None:
    """A second gradual or intermittent fault, on another primary metric than the first
    (``modes``: name -> (kind, primary metric)), starting 0.5-4 days after it."""
    metric = modes[first.mode][1]
    free = sorted(
        n for n, (kind, m) in modes.items() if m != metric and kind in ("gradual", "intermittent")
    )
    if not free:
        return None
    name = free[int(rng.integers(len(free)))]
    onset = first.onset_ts + float(rng.uniform(0.5, 4.0)) * DAY
    if onset >= window[1] - DAY:
        return None
    plan = plan_failure(rng, name, modes[name][0], window, step_s, onset_ts=onset)
    return replace(plan, second=True)


def _intermittent_episodes(
    rng: np.random.Generator, onset: float, duration: float, step_s: float
) -> Episodes:
    episodes = []
    t = onset
    while t < onset + 2.0 * duration:
        progress = (t - onset) / duration
        depth = min(0.35 + 0.95 * progress**1.2, 1.6)
        length = max(1.5 * step_s, float(rng.uniform(0.5, 2.0 + 2.0 * progress)) * 3600.0)
        episodes.append((t, t + length, depth))
        gap_h = max(3.0, 30.0 * (1.0 - 0.8 * min(progress, 1.0)))
        t += length + float(rng.exponential(gap_h)) * 3600.0
    return tuple(episodes)


def _spike_episodes(
    rng: np.random.Generator, onset: float, duration: float, step_s: float, start: float
) -> Episodes:
    episodes = []
    t = onset
    while t < onset + 2.0 * duration:
        progress = (t - onset) / duration
        tick = start + round((t - start) / step_s) * step_s
        size = min(0.5 + 0.9 * progress, 1.8)
        episodes.append((tick - step_s / 2, tick + step_s / 2, size))
        gap_h = max(1.0, 16.0 * (1.0 - 0.85 * min(progress, 1.0)))
        t += float(rng.exponential(gap_h)) * 3600.0 + 2 * step_s  # never adjacent
    return tuple(episodes)


def severity(plan: FailurePlan, t: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """Severity of ``plan`` at times ``t`` (zero before onset and, for stuck, always).

    ``phase`` is the device's daily phase (its load peaks where the daily cycle does).
    """
    since = t - plan.onset_ts
    s = np.clip(since / plan.duration_s, 0.0, None)
    if plan.variant == "accelerating":
        return np.asarray(s**plan.power)
    if plan.variant == "exponential":
        return np.asarray(np.expm1(s * plan.power) / np.expm1(plan.power))
    if plan.variant == "saturating":
        rate = -np.log(1.0 - 1.0 / plan.power)
        return np.asarray(plan.power * -np.expm1(-s * rate))
    if plan.variant == "load":
        load = 0.8 + 0.4 * np.sin(2.0 * np.pi * t / DAY + phase)
        return np.asarray(s**2.0 * load)
    if plan.variant == "power_step":
        creep = 0.45 + 0.65 * np.clip(since / plan.duration_s, 0.0, None) ** plan.power
        return np.where(since >= 0.0, creep, 0.0)
    if plan.variant == "step":
        ramp = np.clip(since / plan.duration_s, 0.0, 1.0) * 0.3
        return np.where(since >= plan.duration_s, 1.3, ramp)
    if plan.episodes:
        return _episode_severity(plan.episodes, t)
    return np.zeros_like(t)


def _episode_severity(episodes: Episodes, t: np.ndarray) -> np.ndarray:
    arr = np.asarray(episodes, dtype=float)
    inside = (t[:, None] >= arr[None, :, 0]) & (t[:, None] < arr[None, :, 1])
    return np.asarray((inside * arr[None, :, 2]).max(axis=1), dtype=float)


def stuck_readings(plan: FailurePlan, t: np.ndarray, level: float, rail: float) -> np.ndarray:
    """For a stuck sensor, the value it reports at ``t`` (NaN while it still works)."""
    out = np.full(t.shape, np.nan)
    if plan.variant not in STUCK:
        return out
    out[t >= plan.onset_ts] = level
    out[t >= plan.onset_ts + plan.duration_s] = rail
    return out


def noise_growth(plan: FailurePlan, t: np.ndarray, span: float) -> np.ndarray:
    """Extra noise sigma of a ``noise`` failure (profile units; ``span``: midpoint to
    limit): half the span at ``duration_s`` after onset, so its two-sigma swings reach
    the limit about then."""
    if plan.variant != "noise":
        return np.zeros_like(t)
    s = np.clip((t - plan.onset_ts) / plan.duration_s, 0.0, None)
    return np.asarray(0.5 * abs(span) * s**1.5)
