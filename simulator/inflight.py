"""How many messages may be unacknowledged at once, and which ones the broker took.

The limit matters for QoS 2. Mosquitto keeps an incoming QoS 2 message until its
PUBREL and allows a client ``max_inflight_messages`` of them (20 in the stock
configuration); over that it answers PUBREC anyway and *discards* the message. MQTT
3.1.1 has no reason codes, so the client cannot tell: the flow completes and the message
is gone. MQTT 5 brokers announce their limit as Receive Maximum in CONNACK (and answer
with an error reason code when it is exceeded), so with MQTT 5 the window never goes
above it. With 3.1.1 the QoS 2 default is Mosquitto's stock 20; a broker configured
lower needs ``max_inflight`` set to match, or MQTT 5.

Mosquitto does not hold incoming QoS 1 messages (it forwards and acknowledges them at
once), so QoS 1 over 3.1.1 keeps the larger default of 100.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

QOS1_DEFAULT = 100
QOS2_DEFAULT_311 = 20  # Mosquitto's stock max_inflight_messages; 3.1.1 cannot ask
QOS0_WINDOW = 1000  # QoS 0 "acknowledged" = handed to the socket; this only bounds memory


class PublishError(Exception):
    """The broker could not be reached, refused us, or stopped acknowledging."""


def inflight_limit(
    qos: int, protocol: str, requested: int | None, receive_maximum: int | None = None
) -> int:
    """The window for ``qos``: the caller's ``requested`` or the default, never above
    the broker's Receive Maximum (MQTT 5; QoS 0 is not subject to it)."""
    if requested is not None and requested < 1:
        raise ValueError(f"max_inflight must be at least 1, got {requested}")
    if qos == 0:
        return requested or QOS0_WINDOW
    if requested is None:
        requested = QOS2_DEFAULT_311 if qos == 2 and protocol != "5" else QOS1_DEFAULT
    if protocol == "5" and receive_maximum is not None:
        return max(1, min(requested, receive_maximum))
    return requested


class Client(mqtt.Client):
    """paho's client, told about a PUBREC that refuses a QoS 2 message.

    paho 2 ignores the PUBREC reason code and completes the flow (PUBREL, PUBCOMP), so
    ``on_publish`` sees a successful PUBCOMP for a message an MQTT 5 broker refused
    (quota exceeded, not authorised). The reason code is the byte after the packet id.
    """

    on_refused: Any = None  # (mid, ReasonCode) -> None

    def _handle_pubrec(self) -> MQTTErrorCode:
        packet = bytes(self._in_packet.get("packet", b""))
        refused = self._protocol == mqtt.MQTTv5 and len(packet) > 2 and packet[2] >= 0x80
        if refused and self.on_refused is not None:
            mid = int.from_bytes(packet[:2], "big")
            self.on_refused(mid, ReasonCode(PacketTypes.PUBREC, identifier=packet[2]))
        return super()._handle_pubrec()


class InFlight:
    """Unacknowledged messages: blocks the sender at ``limit`` and counts what the
    broker acknowledged (PUBACK for QoS 1, PUBCOMP for QoS 2, written for QoS 0) and
    what it rejected with an MQTT 5 error reason code.

    Raises ``PublishError`` once the broker has acknowledged nothing for ``ack_timeout``
    seconds while messages wait (it went away and did not come back).
    """

    def __init__(self, limit: int, ack_timeout: float) -> None:
        self.limit, self.ack_timeout = limit, ack_timeout
        self.last_ack = time.monotonic()
        self.cond = threading.Condition()
        self._pending: dict[int, int] = {}  # mid -> readings in that message
        self._early: dict[int, bool] = {}  # acks that arrived before register()
        self._refused: dict[int, Any] = {}  # QoS 2 PUBREC reason codes >= 0x80
        self._reserved = 0
        self.acked_messages = self.acked_readings = 0
        self.rejected: Counter[str] = Counter()

    @property
    def outstanding(self) -> int:
        return self._reserved + len(self._pending)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for room for one more message; False if ``stop`` was set meanwhile."""
        with self.cond:
            since = time.monotonic()
            while self.outstanding >= self.limit:
                if stop.is_set():
                    return False
                self._check_stalled(since)
                self.cond.wait(0.2)
            self._reserved += 1
            return True

    def register(self, mid: int, readings: int) -> None:
        """The message ``mid`` (carrying ``readings``) was handed to paho."""
        with self.cond:
            self._reserved -= 1
            if mid in self._early:
                self._count(self._early.pop(mid), readings)
            else:
                self._pending[mid] = readings

    def cancel(self) -> None:
        """A reserved slot was not used (paho refused the message)."""
        with self.cond:
            self._reserved -= 1
            self.cond.notify_all()

    def on_refused(self, mid: int, reason: Any) -> None:
        """The broker refused QoS 2 message ``mid`` in its PUBREC (MQTT 5)."""
        with self.cond:
            self._refused[mid] = reason

    def on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any = None) -> None:
        """paho's ``on_publish``: the final acknowledgement of ``mid`` arrived."""
        with self.cond:
            reason = self._refused.pop(mid, reason)
            ok = not getattr(reason, "is_failure", False)
            self.last_ack = time.monotonic()
            if mid in self._pending:
                self._count(ok, self._pending.pop(mid))
            else:  # paho's network thread beat register(); settle it there
                self._early[mid] = ok
            if not ok:
                self.rejected[str(reason)] += 1
            self.cond.notify_all()

    def _count(self, ok: bool, readings: int) -> None:
        if ok:
            self.acked_messages += 1
            self.acked_readings += readings

    def drain(self) -> None:
        """Wait until every message handed to paho is acknowledged."""
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
