"""Streaming detector protocol (the events it leads to live in :mod:`core.events`).

A detector scores one value at a time (higher = more anomalous) and keeps small,
serialisable state. Alarm logic (thresholds, hysteresis, minimum duration) lives in
``postprocess``, never in a detector.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    """One (device, metric) stream. ``learn_one`` updates, ``score_one`` only reads."""

    def learn_one(self, ts: float, value: float) -> None: ...

    def score_one(self, ts: float, value: float) -> float: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class BlockKind(Protocol):
    """A detector kind of the bank: rows of state for one (model, metric), one per device.

    Registered in :mod:`anomaly.kinds` by ``name`` and ``version``; a checkpoint stores
    ``state_dict()`` under both, so a new kind (or version) adds state beside the others.
    """

    name: str
    version: int

    def add(self, key: str = "") -> int: ...

    def state_dict(self) -> dict[str, np.ndarray]: ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None: ...


class BlockDetector(BlockKind, Protocol):
    """The detector kind: scores values in order and returns their alarm edges; ``snaps``
    then holds, per value, the numbers an event needs (``anomaly.kernel.S_*``)."""

    snaps: np.ndarray

    def update(self, rows: np.ndarray, ts: np.ndarray, xs: np.ndarray) -> np.ndarray: ...

    def set_interval(self, interval_s: float) -> None: ...


class BlockFilter(BlockKind, Protocol):
    """A filter kind: runs the detector behind it, value by value, on what it lets
    through (``run`` returns the detector's edges); ``attach`` after a restore."""

    def run(self, block: Any, rows: np.ndarray, ts: np.ndarray, xs: np.ndarray) -> np.ndarray: ...

    def attach(self, block: Any) -> None: ...
