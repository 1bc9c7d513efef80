"""Publish a fleet's readings over MQTT, one client for every device.

Topics: ``{prefix}devices/{device_id}/telemetry`` with the JSON payload
``{"ts": <epoch s>, "metrics": {...}}``; ``{prefix}devices/{device_id}/status`` gets
``online`` before a device's first reading and ``offline`` at the end. The client's last
will (``offline`` on ``{prefix}simulator/{client_id}/status``) tells subscribers when
the simulator itself died. With QoS 1 or 2 at most ``max_inflight`` messages are
unacknowledged at any time, so nothing is queued without bound and nothing is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.base import Reading
from simulator.fleet import Fleet
from simulator.mqtt_url import BrokerAddress, parse_broker_url

Progress = Callable[[int, int], None]
Tick = tuple[float, list[Reading]]


class PublishError(Exception):
    """The broker could not be reached, refused us, or stopped acknowledging."""


@dataclass(frozen=True, slots=True)
class PublishStats:
    """What a ``publish`` run did."""

    messages: int
    readings: int
    ticks: int
    seconds: float
    stopped: bool

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class _Window:
    """Counts unacknowledged messages; blocks the sender at ``limit``.

    Raises ``PublishError`` once the broker has acknowledged nothing for ``ack_timeout``
    seconds while messages wait (it went away and did not come back).
    """

    def __init__(self, limit: int, ack_timeout: float) -> None:
        self.limit, self.ack_timeout = limit, ack_timeout
        self.outstanding = 0
        self.last_ack = time.monotonic()
        self.cond = threading.Condition()

    def acquire(self, stop: threading.Event) -> bool:
        with self.cond:
            since = time.monotonic()
            while self.outstanding >= self.limit:
                if stop.is_set():
                    return False
                self._check_stalled(since)
                self.cond.wait(0.2)
            self.outstanding += 1
            return True

    def release(self, *_: Any) -> None:
        with self.cond:
            self.outstanding -= 1
            self.last_ack = time.monotonic()
            self.cond.notify_all()

    def drain(self) -> None:
        with self.cond:
            since = time.monotonic()
            while self.outstanding > 0:
                self._check_stalled(since)
                self.cond.wait(0.2)

    def _check_stalled(self, since: float) -> None:
        if time.monotonic() - max(since, self.last_ack) > self.ack_timeout:
            raise PublishError(
                f"broker acknowledged nothing for {self.ack_timeout:g} s; "
                f"{self.outstanding} messages unconfirmed"
            )


def publish(
    fleet: Fleet,
    url: str,
    qos: int = 1,
    speed: float = 0.0,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
    *,
    topic_prefix: str = "",
    client_id: str | None = None,
    max_inflight: int = 100,
    protocol: Literal["5", "3.1.1"] = "3.1.1",
    ack_timeout: float = 60.0,
    per_message: int = 1,
) -> PublishStats:
    """Send every tick of ``fleet`` to the broker at ``url``.

    ``speed`` is simulated seconds per wall second (1 = real time); 0 sends as fast as
    the broker acknowledges. ``progress(ticks_done, ticks_total)`` is called after each
    tick. Setting ``stop_event`` stops after the current tick. While the broker is away
    paho reconnects and resends what is unacknowledged; after ``ack_timeout`` seconds
    without any acknowledgement this raises ``PublishError``, as it does when the broker
    cannot be reached or refuses the connection. ``per_message`` > 1 sends each device's
    readings of that many consecutive ticks as one JSON list (faster accelerated runs).
    """
    if per_message < 1:
        raise ValueError(f"per_message must be at least 1, got {per_message}")
    stop = stop_event or threading.Event()
    client_id = client_id or f"kizuki-sim-{uuid.uuid4().hex[:8]}"
    window = _Window(max_inflight if qos > 0 else max_inflight * 10, ack_timeout)
    client = _connect(parse_broker_url(url), client_id, topic_prefix, protocol, window)
    started = time.monotonic()
    try:
        sender = _Sender(client, window, stop, qos, topic_prefix)
        sender.statuses((d.device_id for d in fleet.devices), b"online")
        ticks, readings = _run_ticks(fleet, sender, speed, progress, per_message)
        sender.statuses((d.device_id for d in fleet.devices), b"offline")
        window.drain()
    finally:
        client.disconnect()
        client.loop_stop()
    elapsed = time.monotonic() - started
    return PublishStats(sender.sent, readings, ticks, elapsed, stop.is_set())


class _Sender:
    def __init__(
        self,
        client: mqtt.Client,
        window: _Window,
        stop: threading.Event,
        qos: int,
        prefix: str,
    ) -> None:
        self.client, self.window, self.stop = client, window, stop
        self.qos, self.prefix = qos, prefix
        self.sent = 0

    def send(self, topic: str, payload: bytes) -> bool:
        if not self.window.acquire(self.stop):
            return False
        info = self.client.publish(self.prefix + topic, payload, qos=self.qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.window.release()
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.sent += 1
        return True

    def readings(self, readings: Iterable[Reading]) -> int:
        count = 0
        for r in readings:
            payload = orjson.dumps({"ts": r.ts, "metrics": r.metrics})
            if not self.send(f"devices/{r.device_id}/telemetry", payload):
                break
            count += 1
        return count

    def grouped(self, chunk: list[Tick]) -> int:
        by_device: dict[str, list[dict[str, object]]] = {}
        for _ts, readings in chunk:
            for r in readings:
                by_device.setdefault(r.device_id, []).append({"ts": r.ts, "metrics": r.metrics})
        count = 0
        for device_id, entries in by_device.items():
            if not self.send(f"devices/{device_id}/telemetry", orjson.dumps(entries)):
                break
            count += len(entries)
        return count

    def statuses(self, device_ids: Iterable[str], status: bytes) -> None:
        for device_id in device_ids:
            self.send(f"devices/{device_id}/status", status)


def _run_ticks(
    fleet: Fleet,
    sender: _Sender,
    speed: float,
    progress: Progress | None,
    per_message: int,
) -> tuple[int, int]:
    wall0, ticks, readings = time.monotonic(), 0, 0
    for chunk in _chunks(fleet.ticks(), per_message):
        if speed > 0:
            delay = wall0 + (chunk[-1][0] - fleet.start_ts) / speed - time.monotonic()
            if delay > 0 and sender.stop.wait(delay):
                break
        if sender.stop.is_set():
            break
        readings += sender.grouped(chunk) if per_message > 1 else sender.readings(chunk[0][1])
        ticks += len(chunk)
        if progress is not None:
            progress(ticks, fleet.n_ticks)
    return ticks, readings


def _chunks(ticks: Iterator[Tick], size: int) -> Iterator[list[Tick]]:
    chunk: list[Tick] = []
    for tick in ticks:
        chunk.append(tick)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _connect(
    address: BrokerAddress,
    client_id: str,
    prefix: str,
    protocol: str,
    window: _Window,
) -> mqtt.Client:
    version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    client.max_inflight_messages_set(window.limit)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 5)
    client.will_set(f"{prefix}simulator/{client_id}/status", b"offline", qos=1)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    client.on_publish = window.release
    try:
        client.connect(address.host, address.port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"cannot reach MQTT broker at {address}: {exc}") from None
    client.loop_start()
    if not connected.wait(10.0) or refused:
        client.loop_stop()
        why = refused[0] if refused else "no answer to CONNECT within 10 s"
        raise PublishError(f"MQTT broker at {address} refused the connection: {why}")
    return client
