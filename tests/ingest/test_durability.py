"""Nothing lost, nothing doubled: ingester killed with SIGKILL; store down for ~30 s."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from ingest.deadletters import SqliteDeadLetters
from ingest.influx_store import InfluxStore
from ingest.mqtt import MqttIngest
from kizuki.metrics import STORE_BACKPRESSURE
from tests.ingest.helpers import publish, wait_until
from tests.ingest.services import Service, vm_points
from tests.ingest.test_mqtt_ingest import settings_for

ROOT = Path(__file__).resolve().parents[2]


def readings(unique: str, n: int, devices: int = 20) -> list[tuple[str, bytes]]:
    t0 = time.time() - n / 1000
    return [
        (
            f"kz-{unique}/devices/d{i % devices}-{unique}/telemetry",
            orjson.dumps({"ts": round(t0 + i / 1000, 3), "metrics": {"a": i, "b": -i}}),
        )
        for i in range(n)
    ]


def start_ingester(url: str, unique: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "KIZUKI_MQTT__URL": url,
        "KIZUKI_MQTT__CLIENT_ID": f"kz-kill-{unique}",
        "KIZUKI_MQTT__TOPIC": f"kz-{unique}/devices/+/telemetry",
        "KIZUKI_MQTT__SESSION_EXPIRY_S": "120",
        "KIZUKI_DATA_DIR": str(data_dir),
        "KIZUKI_STORE__BATCH_SIZE": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.run"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
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


def test_kill_9_mid_stream_loses_and_doubles_nothing(
    mosquitto_url: str, unique: str, tmp_path: Path
) -> None:
    n = 3000
    first = start_ingester(mosquitto_url, unique, tmp_path)
    publisher = threading.Thread(
        target=publish, args=(mosquitto_url, readings(unique, n)), kwargs={"rate": 1500}
    )
    publisher.start()
    db = tmp_path / "telemetry.db"
    assert wait_until(lambda: db.exists() and stored(db)[1] > 300)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before_restart = stored(db)[1]
    second = start_ingester(mosquitto_url, unique, tmp_path)
    publisher.join()
    try:
        assert wait_until(lambda: stored(db)[1] >= n, timeout=40)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert 0 < before_restart < n
    assert stored(db) == (2 * n, n)


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
    points = vm_points(own_victoria.url, "a")
    assert sum(len(set(v)) for v in points.values()) == n
