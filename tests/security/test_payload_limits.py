"""Finding 5: unbounded payloads. The shipped broker config took 256 MB messages, a
100 MB message was stored whole as a dead letter, and one dead-letter page was 162 MB."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.readings import PREVIEW_BYTES, DeadLetter
from ingest.deadletters import SqliteDeadLetters
from ingest.decode import Inbound, dead_letter
from ingest.settings import IngestSettings
from kizuki.broker import MOSQUITTO_CONF
from tests.api.world import World
from tests.ingest.broker import ShippedBroker
from tests.ingest.helpers import Harness, publish, wait_until
from tests.security.conftest import served

ROOT = Path(__file__).resolve().parents[2]
LIMIT = IngestSettings().max_payload_bytes
BIG = 20 * 1024 * 1024  # large enough to show, small enough to keep the test quick


def _limit_of(conf: str) -> int:
    [value] = re.findall(r"^message_size_limit (\S+)$", conf, re.MULTILINE)
    return int(value)


def test_every_shipped_broker_config_refuses_what_ingest_refuses() -> None:
    deploy = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    demo = MOSQUITTO_CONF.format(port=1883, message_size_limit=LIMIT)
    assert _limit_of(deploy) == _limit_of(demo) == LIMIT


@pytest.fixture
def shipped(tmp_path: Path) -> Iterator[ShippedBroker]:
    broker = ShippedBroker(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def test_the_shipped_broker_drops_an_oversized_message(shipped: ShippedBroker) -> None:
    host, port = shipped.address.split(":")
    got: list[int] = []
    small_arrived = threading.Event()

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        got.append(len(msg.payload))
        if len(msg.payload) < 100:
            small_arrived.set()

    engine = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    engine.username_pw_set("kizuki-engine", "engine-dev-password")
    engine.on_message = on_message
    engine.connect(host, int(port))
    engine.subscribe("devices/#", qos=1)
    engine.loop_start()
    try:
        _publish(host, int(port), b"x" * (LIMIT + 1))  # the broker drops it (and the client)
        _publish(host, int(port), b'{"ts": 1}')
        assert small_arrived.wait(10)
    finally:
        engine.disconnect()
        engine.loop_stop()
    assert got == [9]


def _publish(host: str, port: int, payload: bytes) -> None:
    device = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    device.username_pw_set("ac-00001", "device-dev-password")
    device.connect(host, port)
    device.loop_start()
    try:
        # the small one is acked at once; the broker drops the big one (and the client)
        device.publish("devices/ac-00001/telemetry", payload, qos=1).wait_for_publish(1)
    except RuntimeError:
        pass
    finally:
        device.disconnect()
        device.loop_stop()


def test_a_huge_dead_letter_keeps_a_preview_its_size_and_digest(tmp_path: Path) -> None:
    payload = b"\xff" + b"A" * (BIG - 1)
    letter = dead_letter(Inbound("devices/ac-00001/telemetry", payload, 1.0), "too_large", "big")
    assert len(letter.payload) == PREVIEW_BYTES
    store = SqliteDeadLetters(tmp_path / "d.db")
    store.add([letter, DeadLetter("devices/x/telemetry", payload, "too_large", "raw", 2.0)])
    store.close()
    size = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert size < 1024 * 1024  # two 20 MB messages, well under a megabyte on disk
    [newest, oldest] = SqliteDeadLetters(tmp_path / "d.db").list()
    digest = hashlib.sha256(payload).hexdigest()
    for kept in (newest, oldest):
        assert (kept.size, kept.sha256, kept.truncated) == (BIG, digest, True)
        assert kept.payload == payload[:PREVIEW_BYTES]


def test_the_dead_letter_api_pages_and_caps_its_response(world: World) -> None:
    bulky = [
        DeadLetter(f"devices/d{i}/telemetry", bytes([i % 256]) * 300_000, "too_large", "x", i)
        for i in range(120)
    ]
    world.deadletters.add(bulky)
    key = {"X-API-Key": world.keys["admin"]}
    with served(world) as url, httpx.Client(base_url=url) as admin:
        assert admin.get("/api/v1/dead-letters?limit=101", headers=key).status_code == 422
        page = admin.get("/api/v1/dead-letters?limit=100", headers=key)
        assert page.status_code == 200 and page.json()["count"] == 100
        assert len(page.content) < 3 * 1024 * 1024  # 100 x 300 KB would be 30 MB+
        first = page.json()["data"][0]
        assert first["truncated"] and first["payload_bytes"] == 300_000 and first["sha256"]
        after = page.json()["next_cursor"]
        rest = admin.get(f"/api/v1/dead-letters?limit=100&before_id={after}", headers=key)
        assert rest.status_code == 200 and rest.json()["count"] >= 20


def test_the_engine_never_receives_a_message_far_over_the_limit(
    mosquitto_url: str, unique: str, tmp_path: Path
) -> None:
    """Even on a broker without a size limit (the system Mosquitto here), the engine's
    MQTT 5 CONNECT names its largest packet, so the broker drops a huge message instead
    of handing it to the engine (where it would be redelivered after every crash)."""
    harness = Harness(mosquitto_url, unique, tmp_path)  # max_payload_bytes 4096
    ingest = harness.start({f"ac{unique}": "aircon-x1"})
    try:
        now = time.time()
        good = orjson.dumps({"ts": now, "metrics": {"fan_rpm": 1200.0}})
        publish(
            mosquitto_url,
            [
                (harness.topic(f"ac{unique}"), b"x" * (2 * 1024 * 1024)),
                (harness.topic(f"ac{unique}"), b"{" + b" " * 5000),
                (harness.topic(f"ac{unique}"), good),
            ],
        )
        assert wait_until(lambda: ingest.stats()["acked"] >= 2)
    finally:
        ingest.stop()
    assert harness.store.latest(f"ac{unique}") is not None
    assert harness.letters.counts() == {"too_large": 1}  # the 5 KB one; the 2 MB one never came
