"""A small, real Kizuki world for API tests: migrated SQLite case DB, SQLite telemetry
store and dead letters, cases opened by the real CaseService, users and API keys."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.auth import create_api_key, create_user
from api.settings import AppConfig
from core.events import AnomalyEvent, Explanation
from core.profiles import load_profiles
from core.readings import DeadLetter, Reading
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from kizuki.config import Settings
from tickets.db import make_session_factory, migrate
from tickets.registry import import_manifest, seed_demo_agents
from tickets.service import CaseService

HOUR, DAY = 3600.0, 86400.0
ROLES = ("viewer", "agent", "admin")
PASSWORD = "correct horse battery"
INBOUND_SECRET = "test-inbound-webhook-secret"

MANIFEST: dict[str, Any] = {
    "customers": [
        {
            "id": "c-0001",
            "name": "Yamada Taro",
            "locale": "ja",
            "timezone": "Asia/Tokyo",
            "contacts": [{"channel": "email", "url": "mailto://yamada@example.com"}],
        },
        {
            "id": "c-0002",
            "name": "Jane Smith",
            "locale": "en",
            "timezone": "Europe/London",
            "contacts": [{"channel": "sms", "url": "log://sms/+441234"}],
        },
    ],
    "devices": [
        {"id": "ac-00001", "model": "aircon-x1", "customer_id": "c-0001"},
        {"id": "ac-00002", "model": "aircon-x1", "customer_id": "c-0002"},
        {"id": "pump-0001", "model": "pump-p3", "customer_id": "c-0001"},
        {"id": "wh-00001", "model": "waterheater-w2", "customer_id": "c-0002"},  # never heard
        {"id": "ac-00003", "model": "aircon-x1", "customer_id": "c-0002"},  # healthy
        {"id": "ac-00004", "model": "aircon-x1", "customer_id": "c-0002"},  # silent for 2 days
    ],
}


@dataclass
class World:
    settings: AppConfig
    session_factory: Any
    store: SqliteStore
    deadletters: SqliteDeadLetters
    service: CaseService
    now: float
    keys: dict[str, str] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    serial: int = 0

    def close(self) -> None:
        self.store.close()
        self.deadletters.close()
        self.session_factory.kw["bind"].dispose()


def _healthy(device: str, ts: float) -> Reading:
    day = math.sin(2 * math.pi * ts / DAY)
    metrics = {"filter_dp_pa": 55 + 3 * day, "cooling_delta_c": 10 + day}
    return Reading(device, ts, metrics | {"compressor_current_a": 5.1, "fan_rpm": 1195.0})


BINARY_PAYLOAD = b"\x00\xff\xfe binary \x80"


def _telemetry(now: float) -> list[Reading]:
    """Five days hourly up to now; ac-00001's filter clogs from day 2 (rising pressure
    drop); ac-00004 fell silent two days ago."""
    readings = []
    for i in range(int(5 * DAY / HOUR) + 1):
        ts = now - 5 * DAY + i * HOUR
        day = math.sin(2 * math.pi * ts / DAY)
        rise = max(0.0, ts - (now - 3 * DAY)) / DAY * 18.0
        readings.append(
            Reading(
                "ac-00001",
                ts,
                {
                    "filter_dp_pa": 55 + 3 * day + rise,
                    "cooling_delta_c": 10 + day,
                    "compressor_current_a": 5.2,
                    "fan_rpm": 1200 + 5 * day,
                },
            )
        )
        readings += [_healthy("ac-00002", ts), _healthy("ac-00003", ts)]
        if ts < now - 2 * DAY:
            readings.append(_healthy("ac-00004", ts))
    return readings


def _event(
    device: str,
    model: str,
    mode: str,
    severity: str,
    metric: str,
    unit: str,
    expected: float,
    observed: float,
    limit: float,
    now: float,
) -> AnomalyEvent:
    why = Explanation(
        metric=metric,
        unit=unit,
        expected=expected,
        observed=observed,
        trend_per_day=18.0,
        limit=limit,
        eta_ts=now + 3 * DAY,
        detectors=("trend",),
        text=f"{metric} drifting towards {limit} {unit}",
    )
    return AnomalyEvent(
        device_id=device,
        model=model,
        failure_mode=mode,
        kind="anomaly",
        ts=now - HOUR,
        started_at=now - 3 * DAY,
        severity=severity,  # type: ignore[arg-type]
        score=0.9,
        why=why,
    )


def build_world(tmp: Path, cases_url: str | None = None) -> World:
    """Everything the API reads, populated the way the engine would populate it.

    The case DB is a SQLite file under ``tmp`` unless ``cases_url`` names another one."""
    root = Settings(
        data_dir=tmp,
        api={"secret_key": "test-secret-key-0123456789"},
        inbound={"webhook_secret": INBOUND_SECRET},
    )
    settings = AppConfig.of(root)
    url = cases_url or f"sqlite:///{tmp / 'cases.db'}"
    migrate(url)
    factory = make_session_factory(url)
    import_manifest(factory, MANIFEST)
    seed_demo_agents(factory)
    now = time.time()
    store = SqliteStore(tmp / "telemetry.db")
    store.write(_telemetry(now))
    letters = SqliteDeadLetters(tmp / "deadletters.db")
    letters.add(
        [
            DeadLetter(
                "devices/ac-00001/telemetry",
                b"{not json",
                "bad_json",
                "Expecting property name",
                now - HOUR,
            ),
            DeadLetter(
                "devices/ac-00002/telemetry",
                BINARY_PAYLOAD,
                "not_json",
                "not UTF-8 text",
                now - HOUR / 2,
            ),
        ]
    )
    service = CaseService(factory, load_profiles(), settings.tickets, clock=time.time)
    world = World(settings, factory, store, letters, service, now)
    _open_cases(world)
    for role in ROLES:
        create_user(factory, role, PASSWORD, role)
        world.keys[role] = create_api_key(factory, f"test-{role}", role)
    world.keys["spare"] = create_api_key(factory, "spare", "viewer")
    return world


def open_case(world: World) -> int:
    """Open one more case, on a device registered just for it."""
    world.serial += 1
    device = f"ac-t{world.serial:04d}"
    import_manifest(
        world.session_factory,
        {
            "customers": [],
            "devices": [{"id": device, "model": "aircon-x1", "customer_id": "c-0001"}],
        },
    )
    event = _event(
        device,
        "aircon-x1",
        "fan_bearing_wear",
        "medium",
        "fan_rpm",
        "rpm",
        1200.0,
        1010.0,
        950.0,
        world.now,
    )
    case_id = world.service.handle(event).case_id
    assert case_id is not None
    return case_id


def open_case_reaching(world: World, channel: str, url: str) -> int:
    """Open a case for a new customer whose only contact point is ``url``."""
    world.serial += 1
    customer, device = f"c-t{world.serial:04d}", f"ac-t{world.serial:04d}"
    person = {"id": customer, "name": "Test", "locale": "en", "timezone": "UTC"}
    return open_case_for(world, {**person, "contacts": [{"channel": channel, "url": url}]}, device)


def open_case_for(world: World, customer: dict[str, Any], device: str) -> int:
    """Import ``customer`` with a new aircon ``device`` and open a filter-clog case on it."""
    import_manifest(
        world.session_factory,
        {
            "customers": [customer],
            "devices": [{"id": device, "model": "aircon-x1", "customer_id": customer["id"]}],
        },
    )
    event = _event(
        device,
        "aircon-x1",
        "filter_clog",
        "low",
        "filter_dp_pa",
        "Pa",
        55.0,
        109.0,
        150.0,
        world.now,
    )
    case_id = world.service.handle(event).case_id
    assert case_id is not None
    return case_id


def _open_cases(world: World) -> None:
    now = world.now
    events = {
        "filter": _event(
            "ac-00001",
            "aircon-x1",
            "filter_clog",
            "low",
            "filter_dp_pa",
            "Pa",
            55.0,
            109.0,
            150.0,
            now,
        ),
        "refrigerant": _event(
            "ac-00002",
            "aircon-x1",
            "refrigerant_leak",
            "high",
            "cooling_delta_c",
            "°C",
            10.0,
            6.0,
            4.0,
            now,
        ),
        "bearing": _event(
            "pump-0001",
            "pump-p3",
            "bearing_wear",
            "medium",
            "vibration_mm_s",
            "mm/s",
            2.0,
            5.0,
            7.1,
            now,
        ),
    }
    for name, event in events.items():
        outcome = world.service.handle(event)
        assert outcome.case_id is not None
        world.cases[name] = outcome.case_id
