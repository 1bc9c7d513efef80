"""The time to the limit at an alarm, with an interval that says how sure it is.

The trend gives the level (its last day's mean, half a day ago), the speed toward the
limit and, when the last three days show it beyond noise, the acceleration; the
kernel's ETA extrapolates that motion. Degradation that is still young accelerates
more than three days of history can show, so the forecast also fits the growth since
the healthy baseline: with ``D`` the distance already moved from the baseline, ``R``
the room left and ``v`` the speed, a square law since onset gives
``(2 D / v) (sqrt((D + R) / D) - 1)``, an exponential ``(D / v) ln((D + R) / D)`` and a
straight line ``R / v``. A wearing part grows at least as the square of time and at
most exponentially, and which one a young fault follows is not known at its first
case, so the ETA is the midpoint of the two (or the kernel's, when earlier); the
interval runs from the exponential (earliest) to the straight line (latest). The
square law alone (before the seventeenth round) forecast 1.2-1.4 times the actual
time in the median on the tuning seeds, the midpoint 0.85-1.03 (docs/detection.md);
a fault that slows toward an asymptote is forecast early either way.

There is no basis (``None``, "unknown") when the level is not moving toward the limit,
has hardly left its baseline (under 5% of the way), or when the alarm does not rest
on a trend at all (a stuck sensor, spikes, intermittent episodes: see
``bank._trended``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DAY = 86400.0
MIN_MOVED = 0.05  # share of the way from the baseline to the limit


@dataclass(frozen=True, slots=True)
class Eta:
    """Predicted crossing time and its interval (epoch seconds)."""

    ts: float
    earliest: float
    latest: float


def forecast(
    level: float, rate_per_day: float, base: float, limit: float, kernel_eta: float, now: float
) -> Eta | None:
    """The ETA of a level ``level`` (measured half a day before ``now``) moving at
    ``rate_per_day`` from a healthy ``base`` toward ``limit``; None without a basis."""
    if not all(v == v for v in (level, rate_per_day, base, kernel_eta)):
        return None
    sign = 1.0 if limit >= base else -1.0
    moved, room, speed = sign * (level - base), sign * (limit - level), sign * rate_per_day
    if speed <= 0.0 or room <= 0.0 or moved < MIN_MOVED * (moved + room):
        return None
    start = now - 0.5 * DAY
    square = (2.0 * moved / speed) * (math.sqrt((moved + room) / moved) - 1.0)
    fastest = (moved / speed) * math.log((moved + room) / moved)
    line = room / speed
    eta = min(kernel_eta, start + 0.5 * (square + fastest) * DAY)
    return Eta(max(eta, now), max(start + fastest * DAY, now), max(start + line * DAY, eta, now))
