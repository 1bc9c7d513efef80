"""A store that refuses data must not stall ingest: real InfluxDB 1.6 answers HTTP 400.

InfluxDB refuses a field named ``time`` and points older than the retention period with
HTTP 400 ("partial write"); ingest finds the refused readings by bisecting the batch,
dead-letters their messages as ``store_rejected`` with the server's message, commits the
rest and acknowledges everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from core.readings import Reading
from ingest.base import StoreError, StoreRejected
from ingest.deadletters import SqliteDeadLetters
from ingest.decode import DecodedBatch, Inbound
from ingest.influx_store import InfluxStore
from ingest.mqtt import MqttIngest
from ingest.writer import Committer
from tests.ingest.helpers import publish, settings_for, wait_until
from tests.ingest.services import Service


def create_database(influx: Service, name: str, retention: str | None = None) -> None:
    statements = [f'CREATE DATABASE "{name}"']
    if retention:
        statements.append(
            f'CREATE RETENTION POLICY "short" ON "{name}" DURATION {retention} '
            "REPLICATION 1 DEFAULT"
        )
    for q in statements:
        httpx.post(f"{influx.url}/query", params={"q": q}).raise_for_status()


@pytest.fixture
def store(influx1: Service, unique: str) -> Iterator[InfluxStore]:
    db = f"rej_{unique}"
    create_database(influx1, db, retention="1h")
    s = InfluxStore(influx1.url, "", "kizuki", db, database=db, write_api="v1")
    yield s
    s.close()


def test_refused_field_is_store_rejected_with_the_server_message(
    store: InfluxStore, unique: str
) -> None:
    with pytest.raises(StoreRejected) as err:
        store.write([Reading(f"d{unique}", time.time(), {"time": 1.0})])
    assert 'invalid field name: input field "time"' in err.value.message
    assert err.value.message.startswith("HTTP 400: ")


def test_missing_database_is_a_setup_error_not_bad_data(influx1: Service, unique: str) -> None:
    store = InfluxStore(influx1.url, "", "kizuki", "x", database=f"nope_{unique}", write_api="v1")
    with pytest.raises(StoreError) as err:
        store.write([Reading(f"d{unique}", time.time(), {"t": 1.0})])
    store.close()
    assert not isinstance(err.value, StoreRejected)  # held and retried, never dead-lettered
    assert "HTTP 404" in str(err.value) and "database not found" in str(err.value)


def test_batch_is_bisected_refused_readings_dead_lettered(
    store: InfluxStore, unique: str, tmp_path: Path
) -> None:
    dev, now = f"b{unique}", time.time()
    messages = [
        Inbound(f"devices/{dev}/telemetry", b"msg-%d" % i, now, mid=i + 1) for i in range(40)
    ]
    readings = [Reading(dev, now + i, {"t": float(i)}) for i in range(40)]
    readings[13] = Reading(dev, now + 13, {"time": 13.0})  # the parser would refuse it
    batch = DecodedBatch(messages, readings, list(range(40)))
    letters, sunk = SqliteDeadLetters(tmp_path / "d.db"), []
    committer = Committer(store, letters, sunk.extend)
    accepted = committer.commit(batch, threading.Event())
    assert accepted is not None
    committer.deliver(accepted)
    stored = [v for _, v in store.query(dev, "t", now - 1, now + 60)]
    assert stored == [float(i) for i in range(40) if i != 13]
    [letter] = letters.list()
    assert (letter.reason, letter.payload) == ("store_rejected", b"msg-13")
    assert 'invalid field name: input field "time"' in letter.detail
    assert [r.metrics["t"] for r in sunk] == stored  # the sink sees only what was stored
    assert committer.counts()["readings"] == 39 and committer.counts()["store_rejected"] == 1
    letters.close()


def test_points_beyond_retention_are_dead_lettered_over_mqtt(
    store: InfluxStore, mosquitto_url: str, unique: str, tmp_path: Path
) -> None:
    dev, now = f"r{unique}", time.time()
    topic = f"kz-{unique}/devices/{dev}/telemetry"
    old = orjson.dumps({"ts": now - 7200, "metrics": {"t": -1}})  # 2 h old, RP is 1 h
    payloads = [orjson.dumps({"ts": now + i, "metrics": {"t": i}}) for i in range(30)]
    payloads.insert(12, old)
    letters = SqliteDeadLetters(tmp_path / "d.db")
    ingest = MqttIngest(settings_for(mosquitto_url, unique), store, letters)
    ingest.start()
    try:
        publish(mosquitto_url, [(topic, p) for p in payloads])
        assert wait_until(lambda: ingest.stats()["acked"] >= len(payloads))
    finally:
        ingest.stop()
    assert [v for _, v in store.query(dev, "t", now - 1, now + 60)] == list(range(30))
    [letter] = letters.list()
    assert (letter.reason, letter.payload) == ("store_rejected", old)
    assert "points beyond retention policy" in letter.detail
    assert ingest.stats()["acked"] == len(payloads) and ingest.stats()["backpressure"] == 0
    letters.close()
