"""MQTT subscriber that acknowledges a message only after its readings are committed.

paho's network thread appends each message to a bounded in-memory queue; one writer
thread takes whatever is queued (up to ``store.batch_size``), decodes it and commits the
readings and dead letters; a sink thread then calls the sink and only then acks the
messages (QoS 1, ``manual_ack=True``), while the writer commits the next batch (see
``ingest.handoff``). A crash loses nothing: unacked messages stay with the broker in
our persistent session and are redelivered; the store's (device, metric, ts) key makes
the redelivery harmless. When the store is down the writer retries with backoff and
acks nothing, so the broker holds the backlog; ``kizuki_store_backpressure`` says so,
and ``kizuki_ingest_queue_depth`` counts the messages held (queued plus those taken
but not yet acked).

Acks go back only on the connection that delivered the message: a packet id means
nothing on another connection, so a reconnect drops the acks still owed (the broker
redelivers those messages). The connection generation is bumped, and acks are sent,
under one lock, so no ack can slip onto a new connection mid-batch.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import paho.mqtt.client as paho

from anomaly.profiles import DeviceProfile, load_profiles
from ingest.base import DeadLetterStore, IngestError, Reading, TelemetryStore
from ingest.connection import (
    BrokerAddress,
    ConnectOutcome,
    ack_all,
    confirm_acks,
    make_client,
    open_connection,
)
from ingest.decode import BatchDecoder, Directory, Inbound
from ingest.handoff import Handoff
from ingest.parsers import JsonParser, Limits, PayloadParser
from ingest.topics import TopicParser
from ingest.writer import Committer
from kizuki.config import MqttSettings, Settings
from kizuki.metrics import INGEST_QUEUE, MESSAGES_IN

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]
ClientFactory = Callable[[MqttSettings, BrokerAddress], paho.Client]


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
        parser: PayloadParser | None = None,
        client_factory: ClientFactory = make_client,
    ) -> None:
        self.settings = settings
        self.url = url or settings.mqtt.url
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.client_factory = client_factory
        self._decoder = BatchDecoder(
            parser or JsonParser(_limits(settings)),
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
        self._connection = threading.Lock()  # generation changes and acks, never both at once
        self._generation = 0
        self._connections = 0
        self._received = 0
        self._redelivered = 0
        self._inflight = 0  # taken from the queue, not yet acked (or given up)
        self._count = threading.Lock()
        self._after: Handoff[tuple[list[Inbound], list[Reading]]] = Handoff(
            self._settle, "kizuki-ingest-sink"
        )
        self._client: paho.Client | None = None
        self._writer: threading.Thread | None = None
        self._outcome = ConnectOutcome(threading.Event())

    def start(self) -> None:
        """Connect, subscribe and start the writer; ``IngestError`` when the broker says no."""
        if self.url is None:
            raise IngestError("no MQTT broker URL: set KIZUKI_MQTT__URL (mqtt://host:port)")
        address = BrokerAddress.parse(self.url)
        client = self.client_factory(self.settings.mqtt, address)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        INGEST_QUEUE.set_function(self._depth)
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
        self._after.start()
        self._writer = threading.Thread(target=self._run, name="kizuki-ingest-writer", daemon=True)
        self._writer.start()
        log.info("ingest subscribed to %s on %s", self.settings.mqtt.topic, address)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and ack what is queued, then disconnect (unacked messages stay queued)."""
        self._stopping.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join(timeout)
        self._after.close(timeout)
        if self._client is not None:
            confirm_acks(self._client, self.settings.mqtt.client_id)
            self._client.disconnect()
            self._client.loop_stop()
        INGEST_QUEUE.set_function(lambda: 0)

    def stats(self) -> dict[str, int]:
        """Counts since start.

        ``received`` messages (redeliveries included), ``redelivered`` (of those, sent
        again by the broker: DUP flag), ``acked`` (committed and acked on the live
        connection), ``readings``/``points`` committed, ``dead_letters`` kept,
        ``store_rejected`` (messages whose readings the store refused), ``batches``,
        ``store_errors``, ``sink_errors``, ``backpressure`` (1 while the store is down),
        ``queue_depth`` (received, not yet committed) and ``connections`` (1 + reconnects).
        """
        return {
            "received": self._received,
            "redelivered": self._redelivered,
            "queue_depth": self._depth(),
            "connections": self._connections,
            **self._committer.counts(),
        }

    def _depth(self) -> int:
        return len(self._queue) + self._inflight

    # paho's thread ------------------------------------------------------------------

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._outcome.refused = str(reason)
            log.error("MQTT broker refused the connection: %s", reason)
            self._outcome.done.set()
            client.disconnect()
            return
        with self._connection:
            self._generation += 1
            self._connections += 1
        client.subscribe(self.settings.mqtt.topic, qos=self.settings.mqtt.qos)

    def _on_subscribe(self, _c: paho.Client, _u: Any, _m: int, reasons: list[Any], _p: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._outcome.sub_refused = refused[0]
            log.error("MQTT broker refused the subscription: %s", refused[0])
        self._outcome.done.set()

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        # Called before paho reconnects: from here on, acks owed to this connection are
        # dropped (waits for an ack loop in progress to finish on the old connection).
        with self._connection:
            self._generation += 1
        if not self._stopping.is_set():
            log.warning("MQTT connection lost (%s); paho reconnects", reason)

    def _on_message(self, _c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        payload = cast(bytes, msg.payload)
        self._queue.append(
            Inbound(msg.topic, payload, self.clock(), msg.mid, msg.qos, msg.dup, self._generation)
        )
        self._received += 1
        if msg.dup:
            self._redelivered += 1
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
                    self._settled(len(batch))
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
            if queue and self.settings.ingest.batch_linger_s > 0:
                # a trickle: let it gather into one batch (one commit, one detector pass)
                self._stopping.wait(self.settings.ingest.batch_linger_s)
        n = min(limit, len(queue))
        self._settled(-n)  # still counted in the depth until acked
        batch = [queue.popleft() for _ in range(n)]
        with self._room:
            self._room.notify_all()
        return batch

    def _handle(self, batch: list[Inbound]) -> None:
        MESSAGES_IN.inc(len(batch))
        decoded = self._decoder.decode(batch, self.clock())
        accepted = self._committer.commit(decoded, self._stopping)
        if accepted is None:  # store down while stopping; the broker keeps the messages
            self._settled(len(batch))
            return
        self._after.put((batch, accepted))  # waits while the previous batch is settling

    # sink thread --------------------------------------------------------------------

    def _settle(self, item: tuple[list[Inbound], list[Reading]]) -> None:
        batch, accepted = item
        try:
            self._committer.deliver(accepted)
            self._ack(batch)
        finally:
            self._settled(len(batch))

    def _settled(self, n: int) -> None:
        with self._count:
            self._inflight -= n

    def _ack(self, batch: Sequence[Inbound]) -> None:
        client = self._client
        if client is None:
            return
        with self._connection:
            generation = self._generation
            # A message from an earlier connection is redelivered by the broker; its
            # packet id on this connection could belong to another, uncommitted one.
            live = [msg for msg in batch if msg.generation == generation]
            ack_all(client, [msg.mid for msg in live if msg.qos == 1])
            for msg in live:
                if msg.qos == 2:
                    client.ack(msg.mid, 2)
        self._committer.acked(len(live))


def _limits(settings: Settings) -> Limits:
    cfg = settings.ingest
    return Limits(cfg.max_payload_bytes, cfg.max_future_skew_s, cfg.max_past_skew_s)
