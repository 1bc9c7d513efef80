"""Readiness that tells the truth, and an API that does not wait on the ingest writer.

A real engine on a Mosquitto of its own (started and stopped by PID here): /readyz turns
503 naming the broker when it stops, and 200 again once paho is back; a telemetry write
held up by a lock another connection keeps on telemetry.db is logged, counted and makes
readiness fail, while device pages keep answering from their own read connections.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.e2e.conftest import engine_settings, wait_until
from tests.ingest.broker import SIMULATOR, ShippedBroker
from tests.ingest.helpers import publish
from tickets.registry import import_manifest


def ready(base: str) -> tuple[int, dict[str, bool]]:
    response = httpx.get(f"{base}/readyz", timeout=10)
    return response.status_code, response.json()["checks"]


def metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


@pytest.fixture
def broker(tmp_path: Path):  # noqa: ANN201
    shipped = ShippedBroker(tmp_path)
    shipped.start()
    yield shipped
    shipped.stop()


def test_readyz_goes_503_when_the_broker_stops(tmp_path, unique, broker, start_engine) -> None:  # noqa: ANN001
    engine = start_engine(engine_settings(tmp_path, unique), broker.url())
    engine.start()
    base = f"http://127.0.0.1:{engine.settings.api.port}"
    wait_until(lambda: ready(base)[0] == 200, 30, "ready with the broker up")
    assert set(ready(base)[1]) == {"cases_db", "telemetry_store", "broker_connected", "dispatcher"}
    assert metric(base, "kizuki_broker_connected") == 1.0
    assert metric(base, 'kizuki_ready{check="dispatcher"}') == 1.0
    assert metric(base, "process_resident_memory_bytes") > 0
    assert metric(base, "kizuki_outbox_backlog") == 0.0

    broker.stop()
    wait_until(lambda: ready(base)[0] == 503, 30, "503 with the broker down")
    status, checks = ready(base)
    assert checks["broker_connected"] is False and checks["cases_db"] is True
    assert metric(base, "kizuki_broker_connected") == 0.0

    broker.start()  # same port: paho reconnects by itself
    wait_until(lambda: ready(base)[0] == 200, 60, "ready again once the broker is back")


def test_a_stalled_store_write_is_reported_and_does_not_block_reads(
    tmp_path,
    unique,
    start_engine,
    broker,
    caplog,  # noqa: ANN001
) -> None:
    settings = engine_settings(tmp_path, unique)
    store = settings.store.model_copy(update={"stall_warn_s": 0.5})
    settings = settings.model_copy(update={"store": store})
    engine = start_engine(settings, broker.url())
    import_manifest(
        engine.session_factory,
        {"customers": [], "devices": [{"id": f"ac-{unique}", "model": "aircon-x1"}]},
    )
    engine.start()
    base = f"http://127.0.0.1:{settings.api.port}"
    device = f"ac-{unique}"
    now = time.time()
    reading = {"ts": now - 120, "metrics": {"cooling_delta_c": 10.0}}
    publish(broker.url(SIMULATOR), [(f"devices/{device}/telemetry", orjson.dumps(reading))])
    wait_until(lambda: engine.ingest.stats()["readings"] >= 1, 30, "the first reading stored")
    wait_until(lambda: ready(base)[0] == 200, 30, "ready")

    locker = sqlite3.connect(settings.telemetry_path, isolation_level=None, timeout=30)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds telemetry.db
    try:
        later = {"ts": now - 60, "metrics": {"cooling_delta_c": 10.5}}
        publish(broker.url(SIMULATOR), [(f"devices/{device}/telemetry", orjson.dumps(later))])
        wait_until(lambda: metric(base, "kizuki_store_stalls_total") >= 1, 30, "a stall counted")
        status, checks = ready(base)
        assert status == 503 and checks["telemetry_store"] is False
        page = httpx.get(f"{base}/api/v1/devices/{device}", headers=_admin(engine), timeout=10)
        assert page.status_code == 200  # answered while the write is still waiting
        assert engine.ingest.stats()["readings"] == 1
        assert any("stalled" in r.getMessage() for r in caplog.records)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_until(lambda: engine.ingest.stats()["readings"] >= 2, 30, "the write went through")
    wait_until(lambda: ready(base)[0] == 200, 30, "ready again")


def _admin(engine) -> dict[str, str]:  # noqa: ANN001
    from api.auth import create_api_key

    return {"X-API-Key": create_api_key(engine.session_factory, "readyz-test", "viewer")}
