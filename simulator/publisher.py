"""Publish a fleet's readings over MQTT from one client that speaks for every device.

One paho client (one connection) carries the whole fleet; the device id is in each
topic, not in the client id. Topics: ``{prefix}devices/{device_id}/telemetry`` with the
JSON payload ``{"ts": <epoch s>, "metrics": {...}}`` (a list of those with
``per_message`` > 1); ``{prefix}devices/{device_id}/status`` gets ``online`` before a
device's first reading and ``offline`` at the end. The client's last will (``offline``
on ``{prefix}simulator/{client_id}/status``) tells subscribers when the simulator itself
died. With QoS 1 or 2 at most ``max_inflight`` messages are unacknowledged at any time,
never more than the broker accepts (``simulator.inflight``), so nothing is queued
without bound and the counts in ``PublishStats`` are what the broker acknowledged.
A broker ACL that pins a device to its own topic needs a per-device client instead.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from core.mqtt_url import BrokerAddress, parse_broker_url
from core.readings import Reading
from simulator.fleet import Fleet
from simulator.inflight import Client, InFlight, PublishError, inflight_limit

Progress = Callable[[int, int, int], None]  # ticks done, ticks in total, readings
__all__ = ["PublishError", "PublishStats", "publish"]
Tick = tuple[float, list[Reading]]


@dataclass(frozen=True, slots=True)
class PublishStats:
    """What a ``publish`` run did.

    ``messages`` and ``readings`` count only what the broker acknowledged: PUBACK (QoS
    1) or PUBCOMP (QoS 2) without an error reason code; for QoS 0, what was written to
    the socket. ``rejected`` counts messages an MQTT 5 broker answered with an error
    reason code (``reasons``: how many of each). ``inflight`` is the window used.
    """

    messages: int
    readings: int
    ticks: int
    seconds: float
    stopped: bool
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    inflight: int = 0

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


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
    max_inflight: int | None = None,
    protocol: Literal["5", "3.1.1"] = "3.1.1",
    ack_timeout: float = 60.0,
    per_message: int = 1,
) -> PublishStats:
    """Send every tick of ``fleet`` to the broker at ``url``.

    ``speed`` is simulated seconds per wall second (1 = real time); 0 sends as fast as
    the broker acknowledges. ``progress(ticks_done, ticks_total, readings_sent)`` is
    called after each tick. Setting ``stop_event`` stops after the current tick. While
    the broker is away paho reconnects and resends what is unacknowledged; after
    ``ack_timeout`` seconds without any acknowledgement this raises ``PublishError``, as
    it does when the broker cannot be reached or refuses the connection. ``per_message``
    > 1 sends each device's readings of that many consecutive ticks as one JSON list.
    ``max_inflight`` defaults to 100 (QoS 1) or 20 (QoS 2 over 3.1.1) and never exceeds
    an MQTT 5 broker's Receive Maximum; see ``simulator.inflight``.
    """
    if per_message < 1:
        raise ValueError(f"per_message must be at least 1, got {per_message}")
    stop = stop_event or threading.Event()
    client_id = client_id or f"kizuki-sim-{uuid.uuid4().hex[:8]}"
    window = InFlight(inflight_limit(qos, protocol, max_inflight), ack_timeout)
    limit = _Limit(qos, protocol, max_inflight, window)
    client = _connect(parse_broker_url(url), client_id, topic_prefix, protocol, limit)
    started = time.monotonic()
    try:
        sender = _Sender(client, window, stop, qos, topic_prefix)
        sender.statuses((d.device_id for d in fleet.devices), b"online")
        ticks = _run_ticks(fleet, sender, speed, progress, per_message)
        sender.statuses((d.device_id for d in fleet.devices), b"offline")
        window.drain()
    finally:
        client.disconnect()
        client.loop_stop()
    return _stats(window, ticks, time.monotonic() - started, stop.is_set())


def _stats(window: InFlight, ticks: int, seconds: float, stopped: bool) -> PublishStats:
    with window.cond:
        return PublishStats(
            window.acked_messages,
            window.acked_readings,
            ticks,
            seconds,
            stopped,
            sum(window.rejected.values()),
            dict(window.rejected),
            window.limit,
        )


class _Limit:
    """Sets the window from each CONNACK: the broker's Receive Maximum caps it (MQTT 5)."""

    def __init__(self, qos: int, protocol: str, requested: int | None, window: InFlight) -> None:
        self.qos, self.protocol, self.requested, self.window = qos, protocol, requested, window

    def on_connack(self, properties: Any) -> None:
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        limit = inflight_limit(self.qos, self.protocol, self.requested, receive_maximum)
        with self.window.cond:
            self.window.limit = limit
            self.window.cond.notify_all()


class _Sender:
    def __init__(
        self,
        client: mqtt.Client,
        window: InFlight,
        stop: threading.Event,
        qos: int,
        prefix: str,
    ) -> None:
        self.client, self.window, self.stop = client, window, stop
        self.qos, self.prefix = qos, prefix
        self.readings_sent = 0

    def send(self, topic: str, payload: bytes, readings: int = 0) -> bool:
        if not self.window.acquire(self.stop):
            return False
        info = self.client.publish(self.prefix + topic, payload, qos=self.qos)
        if info.rc == mqtt.MQTT_ERR_NO_CONN and self.qos == 0:
            self.window.cancel()  # paho drops QoS 0 while disconnected: not sent
            return True
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self.window.cancel()
            raise PublishError(f"publish failed: {mqtt.error_string(info.rc)}")
        self.window.register(info.mid, readings)
        self.readings_sent += readings
        return True

    def readings(self, readings: Iterable[Reading]) -> None:
        for r in readings:
            payload = orjson.dumps({"ts": r.ts, "metrics": r.metrics})
            if not self.send(f"devices/{r.device_id}/telemetry", payload, 1):
                return

    def grouped(self, chunk: list[Tick]) -> None:
        by_device: dict[str, list[dict[str, object]]] = {}
        for _ts, readings in chunk:
            for r in readings:
                by_device.setdefault(r.device_id, []).append({"ts": r.ts, "metrics": r.metrics})
        for device_id, entries in by_device.items():
            topic = f"devices/{device_id}/telemetry"
            if not self.send(topic, orjson.dumps(entries), len(entries)):
                return

    def statuses(self, device_ids: Iterable[str], status: bytes) -> None:
        for device_id in device_ids:
            self.send(f"devices/{device_id}/status", status)


def _run_ticks(
    fleet: Fleet,
    sender: _Sender,
    speed: float,
    progress: Progress | None,
    per_message: int,
) -> int:
    wall0, ticks = time.monotonic(), 0
    for chunk in _chunks(fleet.ticks(), per_message):
        if speed > 0:
            delay = wall0 + (chunk[-1][0] - fleet.start_ts) / speed - time.monotonic()
            if delay > 0 and sender.stop.wait(delay):
                break
        if sender.stop.is_set():
            break
        if per_message > 1:
            sender.grouped(chunk)
        else:
            sender.readings(chunk[0][1])
        ticks += len(chunk)
        if progress is not None:
            progress(ticks, fleet.n_ticks, sender.readings_sent)
    return ticks


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
    limit: _Limit,
) -> mqtt.Client:
    version = mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311
    client = Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=version)
    client.on_refused = limit.window.on_refused
    # paho's own cap is the largest the window can become; the window does the limiting.
    client.max_inflight_messages_set(limit.window.limit)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 5)
    client.will_set(f"{prefix}simulator/{client_id}/status", b"offline", qos=1)
    if address.username:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set()
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        else:
            limit.on_connack(props)
        connected.set()

    client.on_connect = on_connect
    client.on_publish = limit.window.on_publish
    try:
        client.connect(address.host, address.port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"cannot reach MQTT broker at {address.url}: {exc}") from None
    client.loop_start()
    if not connected.wait(10.0) or refused:
        client.loop_stop()
        why = refused[0] if refused else "no answer to CONNECT within 10 s"
        raise PublishError(f"MQTT broker at {address.url} refused the connection: {why}")
    return client
