"""Device directory backed by the case database: ``directory(device_id) -> model | None``.

Ingest validates metric names and detection picks the profile through this callable, so
it is called for every reading: answers are cached (known devices for good, unknown ones
for ``negative_ttl_s`` so a freshly imported device is picked up soon).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tickets.models import Device


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

    def _lookup(self, device_id: str) -> str | None:
        with self.session_factory() as session:
            model = session.scalar(select(Device.model).where(Device.id == device_id))
        with self._lock:
            if model is None:
                self._unknown[device_id] = self.monotonic()
            else:
                self._known[device_id] = model
                self._unknown.pop(device_id, None)
        return model

    def refresh(self) -> int:
        """Load every device into the cache at once; returns how many are known."""
        with self.session_factory() as session:
            rows = session.execute(select(Device.id, Device.model)).all()
        with self._lock:
            self._known = {device_id: model for device_id, model in rows}
            self._unknown.clear()
            return len(self._known)
