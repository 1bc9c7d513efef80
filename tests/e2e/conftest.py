"""Start the real engine (ingest, detection, cases, dispatcher, API) for end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kizuki.config import Settings
from kizuki.engine import Engine
from tests.conftest import free_port


def engine_settings(tmp_path: Path, unique: str, protocol: str = "5") -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        mqtt={"client_id": f"kizuki-e2e-{unique}", "protocol": protocol},
        api={"port": free_port()},
        notify={
            "mode": "apprise",
            "poll_interval_s": 0.2,
            "backoff_s": 0.2,
            "public_base_url": "http://127.0.0.1:8000",
            "allow_targets": ["127.0.0.1"],  # the tests' SMTP sink runs on loopback
        },
    )


@pytest.fixture
def start_engine() -> Iterator[Callable[[Settings, str], Engine]]:
    engines: list[Engine] = []

    def start(settings: Settings, url: str) -> Engine:
        engine = Engine(settings, url)
        engine.open_storage()
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
