"""Readiness checks: named probes run side by side, each bounded in time.

The app always checks the case database and reading the telemetry store; the engine adds
the broker connection, writing the store and the dispatcher loop (``create_app(probes=)``).
A probe that raises or does not answer within ``timeout_s`` counts as failed, so
``/readyz`` answers promptly whatever hangs. Each check is also a Prometheus gauge,
``kizuki_ready{check=...}``, evaluated at scrape time.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from core.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_SECONDS, READY
from ingest.base import TelemetryStore
from tickets.health import cases_db_answers, outbox_backlog

Probe = Callable[[], bool]
log = logging.getLogger(__name__)
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kizuki-readyz")


class Readiness:
    """Named probes; ``check()`` runs them all, at most ``timeout_s`` in total."""

    def __init__(self, probes: Mapping[str, Probe], timeout_s: float = 2.0) -> None:
        self.probes = dict(probes)
        self.timeout_s = timeout_s
        for name in self.probes:
            READY.labels(name).set_function(self._gauge(name))

    def check(self) -> dict[str, bool]:
        """Each probe's verdict (False: failed, raised or too slow)."""
        futures = {name: _POOL.submit(_safe, probe) for name, probe in self.probes.items()}
        deadline = time.monotonic() + self.timeout_s
        return {name: _result(f, deadline) for name, f in futures.items()}

    def _gauge(self, name: str) -> Callable[[], float]:
        probe = self.probes[name]

        def value() -> float:
            deadline = time.monotonic() + self.timeout_s
            return float(_result(_POOL.submit(_safe, probe), deadline))

        return value


def _safe(probe: Probe) -> bool:
    try:
        return bool(probe())
    except Exception:  # noqa: BLE001 - a failing probe means "not ready"
        return False


def _result(future: Future[bool], deadline: float) -> bool:
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        return False


def standard_probes(
    session_factory: sessionmaker[Session], store: TelemetryStore
) -> dict[str, Probe]:
    """What any process serving the API checks: the case DB and reading telemetry."""

    def store_reads() -> bool:
        store.latest("__readyz__")
        return True

    return {"cases_db": lambda: cases_db_answers(session_factory), "telemetry_store": store_reads}


def watch_outbox(session_factory: sessionmaker[Session]) -> None:
    """Export the outbox backlog and the age of its oldest unsent notice (at scrape)."""

    def backlog() -> float:
        try:
            return float(outbox_backlog(session_factory).unsent)
        except Exception:  # noqa: BLE001 - a scrape must not fail because the DB is down
            return math.nan

    def oldest() -> float:
        try:
            return outbox_backlog(session_factory).oldest_age_s(datetime.now(UTC))
        except Exception:  # noqa: BLE001
            return math.nan

    OUTBOX_BACKLOG.set_function(backlog)
    OUTBOX_OLDEST_SECONDS.set_function(oldest)
