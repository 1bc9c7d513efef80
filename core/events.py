"""Anomaly events, their explanation and the one severity scale.

A detector emits an :class:`AnomalyEvent` (kind ``anomaly`` or ``recovery``, and
``update`` for the newest numbers of an anomaly still open); the case service turns it
into a case. Severity is ordered ``low < medium < high < critical``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}
EventKind = Literal["anomaly", "recovery", "update"]


def worse(a: Severity, b: Severity) -> Severity:
    """The more severe of two severities."""
    return a if SEVERITY_RANK[a] >= SEVERITY_RANK[b] else b


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an anomaly was raised, in numbers a service agent can check."""

    metric: str
    unit: str
    expected: float
    observed: float
    trend_per_day: float | None = None
    limit: float | None = None
    eta_ts: float | None = None  # predicted time the user-visible limit is crossed
    detectors: tuple[str, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """A degradation (kind="anomaly"), its newest state (kind="update") or its end
    (kind="recovery") on one device.

    ``failure_mode`` is the suspected failure mode from the device profile; one open
    case exists per (device_id, failure_mode).
    """

    device_id: str
    model: str
    failure_mode: str
    kind: EventKind
    ts: float
    started_at: float
    severity: Severity
    score: float
    why: Explanation
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
