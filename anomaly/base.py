"""Streaming detector protocol and the anomaly events detection emits.

A detector scores one value at a time (higher = more anomalous) and keeps small,
serialisable state. Alarm logic (thresholds, hysteresis, minimum duration) lives in
``postprocess``, never in a detector.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Severity = Literal["low", "medium", "high", "critical"]
EventKind = Literal["anomaly", "recovery"]


@runtime_checkable
class Detector(Protocol):
    """One (device, metric) stream. ``learn_one`` updates, ``score_one`` only reads."""

    def learn_one(self, ts: float, value: float) -> None: ...

    def score_one(self, ts: float, value: float) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


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
    """A degradation (kind="anomaly") or its end (kind="recovery") on one device.

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
