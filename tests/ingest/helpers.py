"""Publishing over real MQTT, waiting for ingest, and an MqttIngest harness (ingest tests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from core.readings import Reading
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.mqtt import MqttIngest
from ingest.settings import IngestConfig
from kizuki.config import Settings


def publish(url: str, messages: Iterable[tuple[str, bytes]], qos: int = 1, rate: float = 0) -> int:
    """Publish (topic, payload) pairs at QoS ``qos``; wait until the broker has each one."""
    parts = urlsplit(url)
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.max_queued_messages_set(0)
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    client.connect(parts.hostname or "127.0.0.1", parts.port or 1883)
    client.loop_start()
    infos = []
    start = time.monotonic()
    for i, (topic, payload) in enumerate(messages):
        infos.append(client.publish(topic, payload, qos=qos))
        if rate and i % 50 == 49:
            time.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()
    return len(infos)


def wait_until(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


def settings_for(url: str, unique: str, **ingest: object) -> IngestConfig:
    root = Settings(
        mqtt={
            "url": url,
            "client_id": f"kz-test-{unique}",
            "topic": f"kz-{unique}/devices/+/telemetry",
            "session_expiry_s": 60,
        },
        ingest={"max_payload_bytes": 4096, **ingest},
    )
    return IngestConfig.of(root)


class Harness:
    def __init__(self, url: str, unique: str, tmp: Path) -> None:
        self.url, self.unique = url, unique
        self.store = SqliteStore(tmp / "telemetry.db")
        self.letters = SqliteDeadLetters(tmp / "dead.db")
        self.batches: list[list[Reading]] = []

    def topic(self, device: str) -> str:
        return f"kz-{self.unique}/devices/{device}/telemetry"

    def start(
        self,
        directory: dict[str, str] | None = None,
        fail_sink: bool = False,
        receiver: str = "process",
    ) -> MqttIngest:
        def sink(batch: list[Reading]) -> None:
            self.batches.append(batch)
            if fail_sink:
                raise RuntimeError("detector exploded")

        ingest = MqttIngest(
            settings_for(self.url, self.unique, receiver=receiver),
            self.store,
            self.letters,
            directory.get if directory else None,
            sink,
        )
        ingest.start()
        return ingest
