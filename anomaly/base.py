"""Streaming detector protocol (the events it leads to live in :mod:`core.events`).

A detector scores one value at a time (higher = more anomalous) and keeps small,
serialisable state. Alarm logic (thresholds, hysteresis, minimum duration) lives in
``postprocess``, never in a detector.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    """One (device, metric) stream. ``learn_one`` updates, ``score_one`` only reads."""

    def learn_one(self, ts: float, value: float) -> None: ...

    def score_one(self, ts: float, value: float) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...
