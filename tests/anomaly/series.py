"""Synthetic series with known answers, shared by the anomaly tests."""

from __future__ import annotations

import math
import random

T0 = 1_767_225_600.0  # 2026-01-01 UTC
STEP = 600.0
DAY_POINTS = 144


def healthy(
    n: int, seed: int = 0, level: float = 10.0, noise: float = 0.2, amplitude: float = 1.0
) -> list[tuple[float, float]]:
    """A daily cycle plus Gaussian noise, every 10 minutes."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = T0 + STEP * i
        out.append(
            (ts, level + amplitude * math.sin(2 * math.pi * ts / 86400) + rng.gauss(0, noise))
        )
    return out


def with_step(series: list[tuple[float, float]], at: int, size: float) -> list[tuple[float, float]]:
    return [(ts, v + (size if i >= at else 0.0)) for i, (ts, v) in enumerate(series)]


def with_ramp(
    series: list[tuple[float, float]], at: int, per_day: float
) -> list[tuple[float, float]]:
    return [(ts, v + max(i - at, 0) * per_day / DAY_POINTS) for i, (ts, v) in enumerate(series)]


def with_spike(
    series: list[tuple[float, float]], at: int, size: float
) -> list[tuple[float, float]]:
    return [(ts, v + (size if i == at else 0.0)) for i, (ts, v) in enumerate(series)]


def sample_and_hold(
    series: list[tuple[float, float]], deadband: float
) -> list[tuple[float, float]]:
    """What a sample-and-hold sensor sends: a new sample only when it moved by
    ``deadband`` from the one it holds, else the held one again."""
    out: list[tuple[float, float]] = []
    for ts, v in series:
        held = out[-1][1] if out else None
        out.append((ts, v if held is None or abs(v - held) >= deadband else held))
    return out


def quantised(series: list[tuple[float, float]], quantum: float) -> list[tuple[float, float]]:
    """What a coarse sensor sends: each sample rounded to a multiple of ``quantum``."""
    return [(ts, round(v / quantum) * quantum) for ts, v in series]


def with_held(
    series: list[tuple[float, float]], at: int, size: float, n: int
) -> list[tuple[float, float]]:
    """One sample ``size`` off at ``at``, sent again ``n - 1`` times (a held sample)."""
    out = list(series)
    for i in range(at, at + n):
        out[i] = (series[i][0], series[at][1] + size)
    return out


def steady_spell(seed: int, noise: float, days: int = 10) -> list[tuple[float, float]]:
    """A pump's vibration (2.2 mm/s, a daily cycle of 0.1) on a sample-and-hold sensor
    with a deadband of twice ``noise``, that runs steady for 20 hours from day 7 (a fifth
    as noisy): the sensor holds one sample through most of them."""
    rng = random.Random(seed)
    out = []
    for i in range(days * DAY_POINTS):
        ts, day = T0 + STEP * i, i / DAY_POINTS
        sd = noise * (0.2 if 7.0 <= day < 7.0 + 20 / 24 else 1.0)
        out.append((ts, 2.2 + 0.1 * math.sin(2 * math.pi * day) + rng.gauss(0.0, sd)))
    return sample_and_hold(out, 2.0 * noise)
