"""Nothing lost, nothing doubled: ingester killed with SIGKILL; store down for ~30 s."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from core.metrics import REGISTRY, STORE_BACKPRESSURE
from ingest.deadletters import SqliteDeadLetters
from ingest.influx_store import InfluxStore
from ingest.mqtt import MqttIngest
from tests.ingest.broker import SIMULATOR, ShippedBroker
from tests.ingest.helpers import publish, settings_for, wait_until
from tests.ingest.services import Service, vm_points

ROOT = Path(__file__).resolve().parents[2]


def readings(
    unique: str, n: int, devices: int = 20, prefix: str | None = None
) -> list[tuple[str, bytes]]:
    t0 = time.time() - n / 1000
    prefix = f"kz-{unique}/" if prefix is None else prefix
    return [
        (
            f"{prefix}devices/d{i % devices}-{unique}/telemetry",
            orjson.dumps({"ts": round(t0 + i / 1000, 3), "metrics": {"a": i, "b": -i}}),
        )
        for i in range(n)
    ]


def start_ingester(
    url: str, unique: str, data_dir: Path, *, own_group: bool = False
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "KIZUKI_MQTT__URL": url,
        "KIZUKI_MQTT__CLIENT_ID": f"kz-kill-{unique}",
        "KIZUKI_MQTT__SESSION_EXPIRY_S": "120",
        "KIZUKI_DATA_DIR": str(data_dir),
        "KIZUKI_STORE__BATCH_SIZE": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuki.ingest_run"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=own_group,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ingest ready"
    return proc


def stored(db: Path) -> tuple[int, int]:
    """(points, distinct (device, ts) readings) in the SQLite store."""
    with sqlite3.connect(db) as conn:
        points = conn.execute("SELECT count(*) FROM points").fetchone()[0]
        distinct = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT s.device, p.ts_ms FROM points p "
            "JOIN series s ON s.id = p.series)"
        ).fetchone()[0]
    return int(points), int(distinct)


@contextlib.contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Hold SQLite's write lock: the ingester keeps receiving but cannot commit."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def stop_ingester(proc: subprocess.Popen[str]) -> dict[str, int]:
    """SIGTERM, then the counts it prints on the way out."""
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    line = next(x for x in out.splitlines() if x.startswith("ingest stopped: "))
    return dict(json.loads(line.removeprefix("ingest stopped: ")))


def test_kill_9_mid_stream_loses_and_doubles_nothing(
    shipped: ShippedBroker, unique: str, tmp_path: Path
) -> None:
    """On the shipped broker config: its unlimited queue is part of the guarantee (the
    stock Mosquitto drops a backlog beyond 1,000 queued messages without a word)."""
    n = 3000
    first = start_ingester(shipped.url(), unique, tmp_path)
    messages = readings(unique, n, prefix="")
    publisher = threading.Thread(
        target=publish, args=(shipped.url(SIMULATOR), messages), kwargs={"rate": 1500}
    )
    publisher.start()
    db = tmp_path / "telemetry.db"
    assert wait_until(lambda: db.exists() and stored(db)[1] > 300)
    with write_locked(db):  # messages arrive meanwhile: received, not committed, not acked
        time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    before_restart = stored(db)[1]
    second = start_ingester(shipped.url(), unique, tmp_path)
    publisher.join()
    try:
        assert wait_until(lambda: stored(db)[1] >= n, timeout=40)
    finally:
        stats = stop_ingester(second)
    assert 0 < before_restart < n
    assert stored(db) == (2 * n, n)
    # Something really was redelivered: the broker sent the dead ingester's unacked
    # messages again (DUP flag), so more than n deliveries happened in all.
    assert stats["redelivered"] > 0
    assert before_restart + stats["received"] >= n
    assert stats["acked"] == stats["received"]


def test_store_down_30s_loses_nothing(
    mosquitto_url: str, unique: str, tmp_path: Path, own_victoria: Service
) -> None:
    n = 1500
    store = InfluxStore(own_victoria.url, "", "kizuki", "telemetry")
    letters = SqliteDeadLetters(tmp_path / "dead.db")
    ingest = MqttIngest(settings_for(mosquitto_url, unique), store, letters)
    ingest.start()
    messages = readings(unique, n)
    try:
        publish(mosquitto_url, messages[:500])
        assert wait_until(lambda: ingest.stats()["acked"] >= 500)
        own_victoria.stop()
        publisher = threading.Thread(
            target=publish, args=(mosquitto_url, messages[500:]), kwargs={"rate": 50}
        )
        publisher.start()
        assert wait_until(lambda: ingest.stats()["backpressure"] == 1, timeout=10)
        assert STORE_BACKPRESSURE._value.get() == 1
        time.sleep(28)
        acked_while_down = ingest.stats()["acked"]
        own_victoria.start()
        publisher.join()
        assert wait_until(lambda: ingest.stats()["acked"] >= n, timeout=60)
        assert ingest.stats()["backpressure"] == 0
        assert STORE_BACKPRESSURE._value.get() == 0
    finally:
        ingest.stop()
        store.close()
        letters.close()
    assert acked_while_down == 500  # nothing acked while the store was down
    samples = [s for v in vm_points(own_victoria.url, "a").values() for s in v]
    assert len(samples) == n  # raw samples, no dedup: nothing written twice
    assert len(set(samples)) == n


def test_queue_depth_counts_messages_held_while_the_store_is_down(
    mosquitto_url: str, unique: str, tmp_path: Path, own_victoria: Service
) -> None:
    store = InfluxStore(own_victoria.url, "", "kizuki", "telemetry")
    letters = SqliteDeadLetters(tmp_path / "dead.db")
    ingest = MqttIngest(settings_for(mosquitto_url, unique), store, letters)
    ingest.start()
    depth = lambda: REGISTRY.get_sample_value("kizuki_ingest_queue_depth")  # noqa: E731
    try:
        own_victoria.stop()
        publish(mosquitto_url, readings(unique, 40))
        assert wait_until(lambda: ingest.stats()["backpressure"] == 1)
        assert wait_until(lambda: depth() == 40)  # the batch being retried counts
        assert ingest.stats()["queue_depth"] == 40
        publish(mosquitto_url, readings(unique, 25))
        assert wait_until(lambda: depth() == 65)  # and so do those queued behind it
        own_victoria.start()
        assert wait_until(lambda: ingest.stats()["acked"] >= 65, timeout=60)
        assert wait_until(lambda: depth() == 0)
    finally:
        ingest.stop()
        store.close()
        letters.close()
