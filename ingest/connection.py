"""The MQTT connection: the paho client, and paho/OS errors in our words."""

from __future__ import annotations

import ssl
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from core.mqtt_url import BrokerAddress, parse_broker_url
from ingest.base import IngestError
from ingest.settings import MqttSettings

HINT = "set KIZUKI_MQTT__URL"
RECEIVE_MAXIMUM_CAP = 65535
PACKET_OVERHEAD = 70 * 1024  # fixed header, a topic of up to 64 KiB, properties


def broker_address(url: str) -> BrokerAddress:
    """The broker in ``url`` (:func:`core.mqtt_url.parse_broker_url`) or ``IngestError``."""
    try:
        return parse_broker_url(url)
    except ValueError as exc:
        raise IngestError(str(exc)) from None


def make_client(settings: MqttSettings, address: BrokerAddress) -> paho.Client:
    """A paho client with manual acks and a persistent session (not yet connected)."""
    v5 = settings.protocol == "5"
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
        clean_session=None if v5 else False,
        manual_ack=True,
    )
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        client.tls_set(
            ca_certs=_path(settings.tls_ca_file),
            certfile=_path(settings.tls_cert_file),
            keyfile=_path(settings.tls_key_file),
        )
        client.tls_insecure_set(not settings.tls_verify_hostname)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value)


def connect_properties(
    settings: MqttSettings, receive_maximum: int, max_packet_bytes: int | None = None
) -> Properties | None:
    """MQTT 5 CONNECT properties: session expiry, how many unacked messages we take and,
    with ``max_packet_bytes``, the largest packet we take: the broker must not send a
    larger one (it drops it for us), so one huge message can neither exhaust our memory
    nor come back at every restart."""
    if settings.protocol != "5":
        return None
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = settings.session_expiry_s
    props.ReceiveMaximum = max(1, min(RECEIVE_MAXIMUM_CAP, receive_maximum))
    if max_packet_bytes is not None:
        props.MaximumPacketSize = max_packet_bytes
    return props


def max_packet_for(max_payload_bytes: int) -> int:
    """The packet limit for a payload limit: room for the longest topic and properties,
    so a payload just over the limit still arrives and is dead-lettered as too_large."""
    return max_payload_bytes + PACKET_OVERHEAD


def open_connection(
    client: paho.Client,
    settings: MqttSettings,
    address: BrokerAddress,
    receive_maximum: int,
    max_packet_bytes: int | None = None,
) -> None:
    """TCP connect and send CONNECT; ``IngestError`` with one clear line when that fails."""
    props = connect_properties(settings, receive_maximum, max_packet_bytes)
    try:
        if props is None:
            client.connect(address.host, address.port, settings.keepalive)
        else:
            client.connect(
                address.host, address.port, settings.keepalive, clean_start=False, properties=props
            )
    except ssl.SSLError as exc:
        why = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        raise IngestError(
            f"TLS with MQTT broker at {address} failed: {why}; check KIZUKI_MQTT__TLS_CA_FILE, "
            "KIZUKI_MQTT__TLS_CERT_FILE and KIZUKI_MQTT__TLS_KEY_FILE"
        ) from None
    except OSError as exc:
        why = (exc.strerror or str(exc) or type(exc).__name__).lower()
        raise IngestError(f"cannot reach MQTT broker at {address}: {why}; {HINT}") from None
    except ValueError as exc:
        raise IngestError(f"bad MQTT settings for {address}: {exc}; {HINT}") from None


@dataclass(slots=True)
class ConnectOutcome:
    """What the broker answered to CONNECT and SUBSCRIBE, set from paho's thread."""

    done: threading.Event
    refused: str | None = None
    sub_refused: str | None = None

    def wait(
        self, address: BrokerAddress, username: str | None, topic: str, timeout: float
    ) -> None:
        """Until subscribed; ``IngestError`` with one clear line when the broker says no."""
        if not self.done.wait(timeout):
            raise IngestError(f"no answer from MQTT broker at {address} in {timeout:.0f} s; {HINT}")
        who = f" as user {username!r}" if username else ""
        if self.refused is not None:
            raise IngestError(
                f"MQTT broker at {address} refused the connection{who}: {self.refused}; "
                f"check the credentials in KIZUKI_MQTT__URL"
            )
        if self.sub_refused is not None:
            raise IngestError(
                f"MQTT broker at {address} refused the subscription to {topic}{who}: "
                f"{self.sub_refused}; check the broker ACL"
            )


def confirm_acks(client: paho.Client, client_id: str, timeout: float = 5.0) -> bool:
    """Wait until the broker has processed every ack sent so far; False if it did not say.

    Without this a clean stop followed by a quick restart can see committed messages
    again: the broker may take the new connection over before it has read the old one's
    last PUBACKs. A broker handles one connection's packets in order, so its answer to an
    UNSUBSCRIBE sent after the acks means the acks are settled. The topic is one we never
    subscribe to (unsubscribing the real one would stop the session collecting messages).
    """
    answered = threading.Event()
    client.on_unsubscribe = lambda *_: answered.set()
    result, _mid = client.unsubscribe(f"kizuki/ack-barrier/{client_id}")
    return result == paho.MQTT_ERR_SUCCESS and answered.wait(timeout)


_PUBACK = struct.Struct("!BBH")


def ack_all(client: paho.Client, mids: Sequence[int]) -> None:
    """PUBACK every QoS 1 message id in ``mids``, as one write to the socket.

    ``client.ack`` queues one packet per message: a wake-up write to paho's socket pair
    from our thread, then one ``send`` per 4-byte PUBACK from paho's. MQTT lets a client
    put several control packets in one TCP write, and the broker reads them in order, so
    the batch's PUBACKs go as one queued buffer (MQTT 3.1.1 and 5 share the 4-byte form:
    a v5 PUBACK without reason code means success). This uses paho's private packet queue,
    pinned to the 2.x line in pyproject; without it, the public per-message ``ack``.
    """
    if not mids:
        return
    queue = getattr(client, "_packet_queue", None)
    if queue is None:
        for mid in mids:
            client.ack(mid, 1)
        return
    pack = _PUBACK.pack
    queue(paho.PUBACK, b"".join([pack(paho.PUBACK, 2, mid) for mid in mids]), 0, 0)
