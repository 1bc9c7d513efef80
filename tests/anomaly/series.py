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
