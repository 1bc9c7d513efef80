"""Device directory backed by the case database: ``directory(device_id) -> model | None``.

Ingest validates metric names and detection picks the profile through this callable, so
it is called for every reading: answers are cached (known devices for good, unknown ones
for ``negative_ttl_s`` so a freshly imported device is picked up soon). The same lookup
brings the device's customer's time zone, the detectors' cohort (``zone_of``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tickets.models import Customer, Device


class DbDeviceDirectory:
    """Callable ``(device_id) -> model | None`` with a thread-safe cache."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        negative_ttl_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_factory = session_factory
        self.negative_ttl_s = negative_ttl_s
        self.monotonic = monotonic
        self._known: dict[str, str] = {}
        self._zones: dict[str, str | None] = {}  # of known devices: the customer's zone
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, device_id: str) -> str | None:
        with self._lock:
            model = self._known.get(device_id)
            missed_at = self._unknown.get(device_id)
        if model is not None:
            return model
        if missed_at is not None and self.monotonic() - missed_at < self.negative_ttl_s:
            return None
        return self._lookup(device_id)

    model_of = __call__

    def zone_of(self, device_id: str) -> str | None:
        """The time zone of the device's customer (its detectors' cohort: devices there
        share their weekends and much of their weather); None without one."""
        if self(device_id) is None:
            return None
        with self._lock:
            return self._zones.get(device_id)

    def _lookup(self, device_id: str) -> str | None:
        with self.session_factory() as session:
            row = session.execute(_ROWS.where(Device.id == device_id)).first()
        with self._lock:
            if row is None:
                self._unknown[device_id] = self.monotonic()
                return None
            self._known[device_id], self._zones[device_id] = row.model, row.timezone or None
            self._unknown.pop(device_id, None)
        return str(row.model)

    def refresh(self) -> int:
        """Load every device into the cache at once; returns how many are known."""
        with self.session_factory() as session:
            rows = session.execute(_ROWS).all()
        with self._lock:
            self._known = {row.id: row.model for row in rows}
            self._zones = {row.id: row.timezone or None for row in rows}
            self._unknown.clear()
            return len(self._known)


_ROWS = select(Device.id, Device.model, Customer.timezone).outerjoin(
    Customer, Customer.id == Device.customer_id
)
