"""The reading gate in front of detection: each (device, ts) once, in time order.

Ingest commits every message it receives, redeliveries included (the store's key absorbs
them); the detectors must not see a reading twice, nor out of order. The gate holds each
device's readings for ``lateness_s`` of telemetry time, merges what arrives for the same
instant (duplicate metrics are dropped), and releases them oldest first once the device's
newest reading is ``lateness_s`` past them (or the device has been quiet for
``idle_flush_s`` server seconds). A reading at or before what was already released is
skipped and counted (``duplicates`` for the same instant, ``late`` for an older one).

``watermarks()`` (device -> newest released ts) goes into the detector checkpoint; after a
restart the engine replays the store from there, so held readings are never lost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from core.readings import Reading


@dataclass
class GateCounts:
    released: int = 0
    duplicates: int = 0
    late: int = 0


class ReadingGate:
    """Dedup and reorder within ``lateness_s`` (see the module docstring). Not thread-safe:
    the engine calls it under its detection lock."""

    def __init__(
        self,
        lateness_s: float,
        idle_flush_s: float = 60.0,
        max_held: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lateness_s, self.idle_flush_s, self.max_held = lateness_s, idle_flush_s, max_held
        self.clock = clock
        self.counts = GateCounts()
        self._held: dict[str, dict[float, dict[str, float]]] = {}
        self._newest: dict[str, float] = {}
        self._done: dict[str, float] = {}
        self._heard: dict[str, float] = {}

    def push(self, readings: Iterable[Reading]) -> list[Reading]:
        """Take a batch; return the readings now due for detection, oldest first."""
        touched: set[str] = set()
        now = self.clock()
        for reading in readings:
            if self._hold(reading):
                touched.add(reading.device_id)
                self._heard[reading.device_id] = now
        out: list[Reading] = []
        for device_id in touched:
            cut = self._newest[device_id] - self.lateness_s
            held = self._held[device_id]
            over = len(held) - self.max_held
            if over > 0:  # memory bound: the oldest go now, however recent
                cut = max(cut, sorted(held)[over - 1])
            out.extend(self._release(device_id, cut))
        return _in_time_order(out)

    def flush_idle(self) -> list[Reading]:
        """Release what quiet devices hold (no message for ``idle_flush_s``)."""
        quiet_since = self.clock() - self.idle_flush_s
        quiet = [d for d, at in self._heard.items() if at <= quiet_since and self._held.get(d)]
        out = [r for d in quiet for r in self._release(d, math.inf)]
        return _in_time_order(out)

    def flush(self) -> list[Reading]:
        """Release everything held (shutdown)."""
        out = [r for d in list(self._held) for r in self._release(d, math.inf)]
        return _in_time_order(out)

    def held(self) -> int:
        """Readings waiting."""
        return sum(len(h) for h in self._held.values())

    def watermark(self, device_id: str) -> float | None:
        """Telemetry time of the device's newest reading released to detection."""
        return self._done.get(device_id)

    def watermarks(self) -> dict[str, float]:
        return dict(self._done)

    def restore(self, watermarks: Mapping[str, float]) -> None:
        """Start from a checkpoint's watermarks (readings at or before them were judged)."""
        self._done = {str(d): float(ts) for d, ts in watermarks.items()}

    def _hold(self, reading: Reading) -> bool:
        device_id, ts = reading.device_id, float(reading.ts)
        done = self._done.get(device_id, -math.inf)
        if ts <= done:
            if ts == done:
                self.counts.duplicates += 1
            else:
                self.counts.late += 1
            return False
        held = self._held.setdefault(device_id, {})
        slot = held.get(ts)
        if slot is None:
            held[ts] = dict(reading.metrics)
        else:
            new = {m: v for m, v in reading.metrics.items() if m not in slot}
            if not new:
                self.counts.duplicates += 1
                return False
            slot.update(new)
        self._newest[device_id] = max(self._newest.get(device_id, -math.inf), ts)
        return True

    def _release(self, device_id: str, cut: float) -> list[Reading]:
        held = self._held.get(device_id)
        if not held:
            return []
        due = sorted(ts for ts in held if ts <= cut)
        out = [Reading(device_id, ts, held.pop(ts)) for ts in due]
        if not held:
            del self._held[device_id]
        if out:
            self._done[device_id] = out[-1].ts
            self.counts.released += len(out)
        return out


def _in_time_order(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda r: r.ts)
