"""Publishing over real MQTT and waiting for ingest, for the ingest tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


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
