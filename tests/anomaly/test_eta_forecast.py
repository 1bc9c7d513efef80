"""The ETA at a first case: an accelerating fault's time to the limit, whichever law it
grows by, within the issue's 0.7-1.4 of the actual time, inside its interval."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from anomaly.eta import forecast

DAY = 86400.0
NOW = 1_000.0 * DAY


Law = Callable[[float], float]


def _ratio(x: Law, speed: Law, t0: float, crossing: float) -> float:
    """Predicted over actual time to the limit for a fault ``x(t)`` (t in days since its
    onset, baseline 0) whose level is read ``t0`` days after the onset, half a day
    before now (the trend's last day's mean), and which crosses its limit at
    ``crossing``."""
    eta = forecast(x(t0), speed(t0), 0.0, x(crossing), math.inf, NOW)
    assert eta is not None
    assert eta.earliest <= eta.ts <= eta.latest
    actual = (crossing - t0 - 0.5) * DAY
    return (eta.ts - NOW) / actual


@pytest.mark.parametrize(("t0", "crossing"), [(2.0, 5.0), (3.0, 6.0), (3.0, 8.0)])
def test_a_fault_growing_as_the_square_of_time(t0: float, crossing: float) -> None:
    ratio = _ratio(lambda t: t * t, lambda t: 2.0 * t, t0, crossing)
    assert 0.7 <= ratio <= 1.4


@pytest.mark.parametrize(("tau", "t0", "crossing"), [(1.5, 3.0, 5.0), (2.0, 3.0, 6.0)])
def test_a_fault_growing_exponentially(tau: float, t0: float, crossing: float) -> None:
    # the square law alone forecast 1.49 and 1.47 of the actual time here (now 1.20, 1.16)
    ratio = _ratio(
        lambda t: math.exp(t / tau) - 1.0, lambda t: math.exp(t / tau) / tau, t0, crossing
    )
    assert 0.7 <= ratio <= 1.4
