"""Each device's newest reading, remembered for a short while.

The fleet page needs every device's last reading to count silent and never-heard-from
devices; asking the store once per device on every page view is what makes a remote
store (InfluxDB: one HTTP query per device) slow. Within ``ttl_s`` a device's reading is
fetched at most once, whichever page or API call asks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from core.readings import Reading
from ingest.base import TelemetryStore

TTL_S = 30.0


class LatestCache:
    """``store.latest()`` with a per-device time-to-live; store errors pass through."""

    def __init__(
        self,
        store: TelemetryStore,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._seen: dict[str, tuple[float, Reading | None]] = {}
        self._lock = threading.Lock()

    def get(self, device_id: str) -> Reading | None:
        """The device's newest reading (None if it never sent one)."""
        now = self.clock()
        with self._lock:
            hit = self._seen.get(device_id)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        reading = self.store.latest(device_id)
        with self._lock:
            self._seen[device_id] = (now, reading)
        return reading

    def many(self, device_ids: Iterable[str]) -> dict[str, Reading | None]:
        return {device_id: self.get(device_id) for device_id in device_ids}
