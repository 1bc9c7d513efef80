"""A fake paho client at MqttIngest's ``client_factory`` seam, for connection-level races.

It plays the broker side of one persistent session: delivers the messages it is given
(before SUBACK, so they are all queued when the writer starts), records every ack with
the connection it went out on, and can drop and re-establish the connection from its
own "network" thread the way paho does (``on_disconnect``, new socket, ``on_connect``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

# (topic, payload, mid, dup)
Delivery = tuple[str, bytes, int, bool]


class FakeClient:
    def __init__(self, deliveries: list[Delivery]) -> None:
        self.connection = 0
        self.acks: list[tuple[int, int]] = []  # (connection, mid)
        self.on_ack: Callable[[FakeClient], None] | None = None
        self._pending = list(deliveries)
        self.on_connect: Any = None
        self.on_disconnect: Any = None
        self.on_message: Any = None
        self.on_subscribe: Any = None

    # what MqttIngest calls ------------------------------------------------------------

    def connect(self, *_args: object, **_kwargs: object) -> None:
        pass

    def loop_start(self) -> None:
        threading.Thread(target=self._connack, daemon=True).start()

    def loop_stop(self) -> None:
        pass

    def disconnect(self) -> None:
        pass

    def subscribe(self, _topic: str, qos: int = 1) -> None:
        pending, self._pending = self._pending, []
        for topic, payload, mid, dup in pending:
            msg = paho.MQTTMessage(mid, topic.encode())
            msg.payload, msg.qos, msg.dup = payload, qos, dup
            self.on_message(self, None, msg)
        granted = ReasonCode(PacketTypes.SUBACK, identifier=qos)
        self.on_subscribe(self, None, 1, [granted], None)

    def unsubscribe(self, _topic: str) -> tuple[int, None]:
        return paho.MQTT_ERR_NO_CONN, None

    def ack(self, mid: int, _qos: int) -> int:
        self.acks.append((self.connection, mid))
        hook, self.on_ack = self.on_ack, None
        if hook is not None:
            hook(self)
        return 0

    # what a test calls ----------------------------------------------------------------

    def reconnect(self, deliveries: list[Delivery]) -> threading.Thread:
        """Drop the connection and reconnect from a "network thread"; redeliver ``deliveries``."""
        self._pending = list(deliveries)
        thread = threading.Thread(target=self._reconnect, daemon=True)
        thread.start()
        return thread

    def _reconnect(self) -> None:
        lost = ReasonCode(PacketTypes.DISCONNECT, "Unspecified error")
        self.on_disconnect(self, None, None, lost, None)
        self.connection += 1  # paho's reconnect(): a new socket
        self._connack()

    def _connack(self) -> None:
        self.on_connect(self, None, None, ReasonCode(PacketTypes.CONNACK, "Success"), None)


def factory(client: FakeClient) -> Callable[..., Any]:
    return lambda *_args: client
