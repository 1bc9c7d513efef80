"""MQTT subscriber that acknowledges a message only after its readings are committed.

paho's network thread appends each message to a bounded in-memory queue; one writer
thread takes whatever is queued (up to ``store.batch_size``), decodes it, commits the
readings and dead letters, calls the sink, and only then acks the messages (QoS 1,
``manual_ack=True``). A crash loses nothing: unacked messages stay with the broker in
our persistent session and are redelivered; the store's (device, metric, ts) key makes
the redelivery harmless. When the store is down the writer retries with backoff and
acks nothing, so the broker holds the backlog; ``kizuki_store_backpressure`` says so.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, cast

import paho.mqtt.client as paho

from anomaly.profiles import DeviceProfile, load_profiles
from ingest.base import DeadLetterStore, IngestError, Reading, TelemetryStore
from ingest.connection import BrokerAddress, ConnectOutcome, make_client, open_connection
from ingest.decode import BatchDecoder, Directory
from ingest.parsers import JsonParser, Limits
from ingest.topics import TopicParser
from ingest.writer import Committer
from kizuki.config import Settings
from kizuki.metrics import INGEST_QUEUE, MESSAGES_IN

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]
# (connection generation, mid, qos, topic, payload, received_at)
Inbound = tuple[int, int, int, str, bytes, float]


class MqttIngest:
    """Subscribes to device telemetry and commits it; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        store: TelemetryStore,
        deadletters: DeadLetterStore,
        directory: Directory | None = None,
        sink: Sink | None = None,
        clock: Callable[[], float] = time.time,
        *,
        url: str | None = None,
        profiles: Mapping[str, DeviceProfile] | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.url = url or settings.mqtt.url
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self._decoder = BatchDecoder(
            JsonParser(_limits(settings)),
            directory,
            profiles if profiles is not None else (load_profiles() if directory else {}),
            topics=TopicParser(settings.mqtt.topic),
        )
        self._committer = Committer(store, deadletters, sink, clock)
        self._queue: collections.deque[Inbound] = collections.deque()
        self._capacity = max(1, settings.ingest.queue_size)
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._idle = False
        self._stopping = threading.Event()
        self._generation = 0
        self._received = 0
        self._client: paho.Client | None = None
        self._writer: threading.Thread | None = None
        self._outcome = ConnectOutcome(threading.Event())

    def start(self) -> None:
        """Connect, subscribe and start the writer; ``IngestError`` when the broker says no."""
        if self.url is None:
            raise IngestError("no MQTT broker URL: set KIZUKI_MQTT__URL (mqtt://host:port)")
        address = BrokerAddress.parse(self.url)
        client = make_client(self.settings.mqtt, address)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        open_connection(client, self.settings.mqtt, address, self._capacity)
        client.loop_start()
        try:
            self._outcome.wait(
                address, address.username, self.settings.mqtt.topic, self.connect_timeout_s
            )
        except IngestError:
            client.disconnect()
            client.loop_stop()
            raise
        self._writer = threading.Thread(target=self._run, name="kizuki-ingest-writer", daemon=True)
        self._writer.start()
        log.info("ingest subscribed to %s on %s", self.settings.mqtt.topic, address)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and ack what is queued, then disconnect (unacked messages stay queued)."""
        self._stopping.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        INGEST_QUEUE.set(0)

    def stats(self) -> dict[str, int]:
        """Counts since start.

        ``received`` messages (redeliveries included), ``acked`` (committed and acked on
        the live connection), ``readings``/``points`` committed, ``dead_letters`` kept,
        ``batches``, ``store_errors``, ``sink_errors``, ``backpressure`` (1 while the
        store is down), ``queue_depth`` and ``connections`` (1 + reconnects).
        """
        return {
            "received": self._received,
            "queue_depth": len(self._queue),
            "connections": self._generation,
            **self._committer.counts(),
        }

    # paho's thread ------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._outcome.refused = str(reason)
            log.error("MQTT broker refused the connection: %s", reason)
            self._outcome.done.set()
            client.disconnect()
            return
        self._generation += 1
        client.subscribe(self.settings.mqtt.topic, qos=self.settings.mqtt.qos)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _m: int, reasons: list[Any], _p: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._outcome.sub_refused = refused[0]
            log.error("MQTT broker refused the subscription: %s", refused[0])
        self._outcome.done.set()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); paho reconnects", reason)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        self._queue.append(
            (self._generation, msg.mid, msg.qos, msg.topic, cast(bytes, msg.payload), self.clock())
        )
        self._received += 1
        if self._idle:
            self._wake.set()
        if len(self._queue) >= self._capacity:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        # Blocks paho's thread: the broker keeps the rest until the writer catches up.
        with self._room:
            self._room.wait_for(lambda: len(self._queue) < self._capacity, timeout=1.0)

    # writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch:
                try:
                    self._handle(batch)
                except Exception:  # noqa: BLE001 - unacked; the broker redelivers them
                    log.exception("ingest failed on a batch of %d messages", len(batch))
            elif self._stopping.is_set():
                return

    def _take(self) -> list[Inbound]:
        queue, limit = self._queue, self.settings.store.batch_size
        if not queue and not self._stopping.is_set():
            self._idle = True
            if not queue:
                self._wake.wait(self.settings.store.flush_interval_s)
            self._idle = False
            self._wake.clear()
        batch = [queue.popleft() for _ in range(min(limit, len(queue)))]
        INGEST_QUEUE.set(len(queue))
        with self._room:
            self._room.notify_all()
        return batch

    def _handle(self, batch: list[Inbound]) -> None:
        MESSAGES_IN.inc(len(batch))
        readings, letters = self._decoder.decode(((m[3], m[4], m[5]) for m in batch), self.clock())
        if not self._committer.commit(readings, letters, self._stopping):
            return  # store down while stopping: leave the messages with the broker
        self._ack(batch)

    def _ack(self, batch: list[Inbound]) -> None:
        client, generation = self._client, self._generation
        if client is None:
            return
        settled = 0
        for gen, mid, qos, *_ in batch:
            # After a reconnect the broker redelivers older messages itself; acking them
            # by mid on the new connection could ack a different, uncommitted message.
            if gen == generation:
                settled += 1
                if qos:
                    client.ack(mid, qos)
        self._committer.acked(settled)


def _limits(settings: Settings) -> Limits:
    cfg = settings.ingest
    return Limits(cfg.max_payload_bytes, cfg.max_future_skew_s, cfg.max_past_skew_s)
