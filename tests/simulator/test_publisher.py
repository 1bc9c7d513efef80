"""Publishing to the machine's real Mosquitto, checked by a real paho subscriber."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from core.mqtt_url import parse_broker_url
from simulator.fleet import Fleet
from simulator.publisher import PublishError, publish
from tests.simulator.conftest import START


class Collector:
    """A paho subscriber that keeps every message under one topic prefix."""

    def __init__(self, url: str, prefix: str) -> None:
        address = parse_broker_url(url)
        self.messages: list[mqtt.MQTTMessage] = []
        self.arrived = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{prefix}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.client.subscribe(f"{prefix}#", qos=1)
        assert subscribed.wait(5)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self.arrived:
            self.messages.append(msg)
            self.arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[mqtt.MQTTMessage]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            time.sleep(0.2)  # anything beyond the expected count would show up here
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def collector(mosquitto_url: str, unique: str) -> Iterator[Collector]:
    sub = Collector(mosquitto_url, f"t-{unique}/")
    yield sub
    sub.close()


def test_every_reading_arrives_once_with_the_documented_payload(
    mosquitto_url: str, unique: str, collector: Collector
) -> None:
    fleet = Fleet(12, seed=3, failure_rate=0.3, start_ts=START, days=1)
    expected = {(r.device_id, r.ts): dict(r.metrics) for _, rs in fleet.ticks() for r in rs}
    done: list[int] = []
    # Paced (a simulated day in about 1.5 s): the subscriber shares this process and its
    # GIL, and Mosquitto by default drops QoS 1 messages for a subscriber more than
    # 1,000 messages behind.
    stats = publish(
        fleet,
        mosquitto_url,
        qos=1,
        speed=60_000.0,
        topic_prefix=f"t-{unique}/",
        progress=lambda k, n, r: done.append(k),
    )
    assert stats.readings == len(expected) and stats.ticks == fleet.n_ticks
    assert done[-1] == fleet.n_ticks
    messages = collector.wait_for(stats.messages)
    assert len(messages) == stats.messages == len(expected) + 2 * len(fleet.devices)
    received = {}
    for msg in messages:
        _, _, device_id, kind = msg.topic.split("/")
        if kind == "telemetry":
            body = orjson.loads(msg.payload)
            received[(device_id, body["ts"])] = body["metrics"]
    assert received == expected


def test_several_readings_per_message_arrive_as_json_lists(
    mosquitto_url: str, unique: str, collector: Collector
) -> None:
    fleet = Fleet(12, seed=3, failure_rate=0.3, start_ts=START, days=1)
    expected = [(r.device_id, r.ts, dict(r.metrics)) for _, rs in fleet.ticks() for r in rs]
    stats = publish(
        fleet, mosquitto_url, speed=60_000.0, topic_prefix=f"t-{unique}/", per_message=6
    )
    telemetry = [m for m in collector.wait_for(stats.messages) if m.topic.endswith("telemetry")]
    assert len(telemetry) <= len(fleet.devices) * fleet.n_ticks / 6
    received = []
    for msg in telemetry:
        device_id = msg.topic.split("/")[2]
        entries = orjson.loads(msg.payload)
        assert isinstance(entries, list) and len(entries) <= 6
        received += [(device_id, e["ts"], e["metrics"]) for e in entries]
    assert stats.readings == len(expected)
    assert sorted(received, key=lambda x: (x[0], x[1])) == sorted(
        expected, key=lambda x: (x[0], x[1])
    )


def test_device_status_online_then_offline(
    mosquitto_url: str, unique: str, collector: Collector
) -> None:
    fleet = Fleet(3, seed=1, failure_rate=0.0, start_ts=START, days=0.1)
    stats = publish(fleet, mosquitto_url, qos=1, topic_prefix=f"t-{unique}/")
    statuses = [
        (m.topic.split("/")[2], m.payload)
        for m in collector.wait_for(stats.messages)
        if m.topic.endswith("/status")
    ]
    for device in fleet.devices:
        assert [p for d, p in statuses if d == device.device_id] == [b"online", b"offline"]


def test_paced_publishing_follows_the_speed(
    mosquitto_url: str, unique: str, collector: Collector
) -> None:
    fleet = Fleet(2, seed=1, failure_rate=0.0, start_ts=START, days=1 / 24)  # 6 ticks
    stats = publish(fleet, mosquitto_url, qos=0, speed=3000.0, topic_prefix=f"t-{unique}/")
    assert 1.0 <= stats.seconds < 3.0  # 3000 simulated seconds at 3000x: one second
    assert len(collector.wait_for(stats.messages)) == stats.messages


def test_stop_event_ends_the_run_early(mosquitto_url: str, unique: str) -> None:
    fleet = Fleet(2, seed=1, failure_rate=0.0, start_ts=START, days=1)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    stats = publish(fleet, mosquitto_url, speed=600.0, stop_event=stop, topic_prefix=f"t-{unique}/")
    assert stats.stopped and stats.ticks < fleet.n_ticks


def test_unreachable_broker_is_one_clear_error(port: int) -> None:
    fleet = Fleet(2, seed=1, failure_rate=0.0, start_ts=START, days=0.1)
    with pytest.raises(PublishError, match=rf"cannot reach MQTT broker at mqtt://127.0.0.1:{port}"):
        publish(fleet, f"mqtt://127.0.0.1:{port}")
