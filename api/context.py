"""What the app is built from, held on ``app.state.ctx`` for the dependencies."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from api.latest import LatestCache
from api.settings import AppConfig
from core.clock import Clock, utc
from core.profiles import DeviceProfile
from ingest.base import DeadLetterStore, TelemetryStore

STALE_AFTER_S = 3600.0  # a device silent this long is "silent" (settings.api.stale_after_s)


@dataclass
class AppContext:
    """The engine parts the API reads from and acts through."""

    config: AppConfig
    session_factory: sessionmaker[Session]
    store: TelemetryStore
    deadletters: DeadLetterStore
    profiles: dict[str, DeviceProfile]
    case_service: Any
    clock: Clock = field(default=time.time)
    stale_after_s: float = STALE_AFTER_S
    latest: LatestCache = field(init=False)

    def __post_init__(self) -> None:
        self.latest = LatestCache(self.store)

    def now(self) -> datetime:
        """The engine's current time (the demo runs on simulated time) as a UTC datetime."""
        return utc(self.clock())
