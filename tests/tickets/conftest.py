"""Case-database fixtures: every case test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from core.events import AnomalyEvent, Explanation
from core.profiles import DeviceProfile, load_profiles
from kizuki.config import Settings
from tickets.db import make_engine, make_session_factory, migrate
from tickets.registry import import_manifest, seed_demo_agents
from tickets.settings import TicketsConfig

T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo, 03:00 UTC


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str, postgres_url: str
) -> Iterator[str]:
    """A freshly migrated case database: a SQLite file, or a private PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cases.db'}"
        migrate(url)
        yield url
        return
    schema = f"kz_{unique}"
    admin = make_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = pg_schema_url(postgres_url, schema)
        migrate(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    factory = make_session_factory(db_url)
    yield factory
    factory.kw["bind"].dispose()


@pytest.fixture
def profiles() -> dict[str, DeviceProfile]:
    return load_profiles()


@pytest.fixture
def settings(tmp_path: Path) -> TicketsConfig:
    root = Settings(
        data_dir=tmp_path / "data",
        notify={
            "mode": "apprise",
            "backoff_s": 1.0,
            "max_attempts": 3,
            "public_base_url": "https://kizuki.example",
            "allow_targets": ["127.0.0.1"],
        },
        cases={"auto_resolve_after_s": 3600.0, "update_min_interval_s": 0.0},
    )
    return TicketsConfig.of(root)


class FakeClock:
    """A settable clock: ``now`` is an aware UTC datetime; calling it gives epoch seconds,
    as every Kizuki clock does."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


MANIFEST = {
    "customers": [
        {
            "id": "c-ja",
            "name": "佐藤 花子",
            "locale": "ja",
            "timezone": "Asia/Tokyo",
            "quiet_hours": [22, 7],
            "contacts": [{"channel": "log", "url": "log://"}],
        },
        {
            "id": "c-en",
            "name": "Alex Smith",
            "locale": "en",
            "timezone": "Europe/London",
            "contacts": [{"url": "log://"}],
        },
    ],
    "devices": [
        {"id": "ac-1", "model": "aircon-x1", "customer_id": "c-ja"},
        {"id": "ac-2", "model": "aircon-x1", "customer_id": "c-en"},
        {"id": "pu-1", "model": "pump-p3", "customer_id": "c-en"},
        {"id": "wh-1", "model": "waterheater-w2", "customer_id": "c-ja"},
    ],
}


@pytest.fixture
def fleet(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """The case DB with two customers, four devices and the demo agents."""
    import_manifest(session_factory, MANIFEST)
    seed_demo_agents(session_factory)
    return session_factory


def make_event(
    device_id: str = "ac-1",
    failure_mode: str = "filter_clog",
    kind: str = "anomaly",
    at: datetime = T0,
    severity: str = "low",
    model: str = "aircon-x1",
    score: float = 5.0,
    observed: float = 131.0,
    eta_in_s: float = 3 * 86400,
) -> AnomalyEvent:
    ts = at.timestamp()
    why = Explanation(
        metric="filter_dp_pa",
        unit="Pa",
        expected=55.0,
        observed=observed,
        trend_per_day=6.0,
        limit=150.0,
        eta_ts=ts + eta_in_s,
        detectors=("ewma",),
        text="filter pressure rising",
    )
    return AnomalyEvent(
        device_id=device_id,
        model=model,
        failure_mode=failure_mode,
        kind=kind,  # type: ignore[arg-type]
        ts=ts,
        started_at=ts - 86400,
        severity=severity,
        score=score,
        why=why,  # type: ignore[arg-type]
    )


EventFactory = Callable[..., AnomalyEvent]


@pytest.fixture
def event() -> EventFactory:
    return make_event


@dataclass
class WebhookReceiver:
    """A real HTTP server on loopback that records JSON posts (like a customer's webhook).

    ``statuses`` are answered in order before falling back to 200; ``hits`` counts every
    request. ``delivered()`` deduplicates by the ``Idempotency-Key`` header, as a careful
    receiver would. ``stop()`` takes it down (connection refused) and ``start()`` brings
    it back on the same port.
    """

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def delivered(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {headers["Idempotency-Key"]: body for headers, body in self.requests}

    def answer(self, headers: dict[str, str], body: dict[str, Any]) -> int:
        with self.lock:
            self.hits += 1
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200:
                self.requests.append((headers, body))
            return status

    def start(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,))
        self.thread.daemon = True
        self.thread.start()

    def stop(self) -> None:
        if self.server is None or self.thread is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.server = self.thread = None


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            status = receiver.answer(dict(self.headers.items()), body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
