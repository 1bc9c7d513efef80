"""MQTT subscriber that acknowledges a message only after its readings are committed.

A receiver (``ingest.receiver``: paho's client in a child process by default, or on a
thread here) queues each message in a bounded in-memory queue; one writer thread takes
whatever is queued (up to ``store.batch_size``), decodes it and commits the readings and
dead letters; a sink thread then calls the sink and only then acks the messages (QoS 1,
``manual_ack=True``), while the writer commits the next batch (see ``ingest.handoff``).
A crash loses nothing: unacked messages stay with the broker in our persistent session
and are redelivered; the store's (device, metric, ts) key makes the redelivery harmless.
When the store is down the writer retries with backoff and acks nothing, so the broker
holds the backlog; ``kizuki_store_backpressure`` says so, and
``kizuki_ingest_queue_depth`` counts the messages held (queued plus those taken but not
yet acked).

Acks go back only on the connection that delivered the message: a packet id means
nothing on another connection, so a reconnect drops the acks still owed (the broker
redelivers those messages). The receiver bumps the connection generation, and sends
acks, under one lock, so no ack can slip onto a new connection mid-batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from core.devices import Directory
from core.metrics import (
    BROKER_CONNECTED,
    INGEST_LAG,
    INGEST_QUEUE,
    MESSAGES_IN,
    STORE_STALL_SECONDS,
)
from core.profiles import DeviceProfile, load_profiles
from core.readings import Reading
from ingest.base import DeadLetterStore, IngestError, TelemetryStore
from ingest.connection import broker_address, make_client
from ingest.decode import BatchDecoder, Inbound
from ingest.handoff import Handoff
from ingest.parsers import JsonParser, Limits, PayloadParser
from ingest.receiver import ClientFactory, ProcessReceiver, Receiver, ThreadReceiver
from ingest.settings import IngestConfig, IngestSettings
from ingest.topics import TopicParser
from ingest.writer import Committer

log = logging.getLogger(__name__)

Sink = Callable[[list[Reading]], None]


class MqttIngest:
    """Subscribes to device telemetry and commits it; see the module docstring."""

    def __init__(
        self,
        settings: IngestConfig,
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
        client_factory: ClientFactory | None = None,
        receiver: Receiver | None = None,
        topics: Callable[[str], str] | None = None,
    ) -> None:
        """``client_factory`` (tests: a fake paho client) implies the thread receiver;
        otherwise ``settings.ingest.receiver`` chooses. ``receiver`` replaces the MQTT one
        (``ingest.nats_source.NatsReceiver``), ``topics`` the device id parser."""
        self.settings = settings
        self.url = url or settings.mqtt.url
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.client_factory = client_factory
        self._decoder = BatchDecoder(
            parser or JsonParser(_limits(settings.ingest)),
            directory,
            profiles if profiles is not None else (load_profiles() if directory else {}),
            topics=topics or TopicParser(settings.mqtt.topic),
        )
        self._committer = Committer(store, deadletters, sink, clock)
        self._receiver: Receiver | None = None
        self._given = receiver
        self._stopping = threading.Event()
        self._inflight = 0  # taken from the queue, not yet acked (or given up)
        self._count = threading.Lock()
        self._after: Handoff[tuple[object, list[Inbound], list[Reading]]] = Handoff(
            self._settle, "kizuki-ingest-sink"
        )
        self._writer: threading.Thread | None = None

    def start(self) -> None:
        """Connect, subscribe and start the writer; ``IngestError`` when the broker says no."""
        receiver = self._given or self._mqtt_receiver()
        receiver.start()
        self._receiver = receiver
        INGEST_QUEUE.set_function(self._depth)
        BROKER_CONNECTED.set_function(lambda: float(self.connected()))
        STORE_STALL_SECONDS.set_function(self._committer.stalled_for)
        self._after.start()
        self._writer = threading.Thread(target=self._run, name="kizuki-ingest-writer", daemon=True)
        self._writer.start()
        if self._given is None:
            log.info(
                "ingest subscribed to %s on %s (receiver: %s)",
                self.settings.mqtt.topic,
                _where(self.url or ""),
                type(receiver).__name__,
            )

    def _mqtt_receiver(self) -> Receiver:
        if self.url is None:
            raise IngestError("no MQTT broker URL: set KIZUKI_MQTT__URL (mqtt://host:port)")
        if self.client_factory is not None or self.settings.ingest.receiver == "thread":
            return ThreadReceiver(
                self.settings,
                self.url,
                self.clock,
                self.connect_timeout_s,
                self.client_factory or make_client,
            )
        return ProcessReceiver(self.settings, self.url, self.connect_timeout_s)

    def stop(self, timeout: float = 30.0) -> None:
        """Commit and ack what is queued, then disconnect (unacked messages stay queued)."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout)
        self._after.close(timeout)
        if self._receiver is not None:
            self._receiver.stop()
        INGEST_QUEUE.set_function(lambda: 0)
        BROKER_CONNECTED.set_function(lambda: 0.0)

    def stats(self) -> dict[str, int]:
        """Counts since start.

        ``received`` messages (redeliveries included), ``redelivered`` (of those, sent
        again by the broker: DUP flag), ``acked`` (committed and acked on the live
        connection), ``readings``/``points`` committed, ``dead_letters`` kept,
        ``store_rejected`` (messages whose readings the store refused), ``batches``,
        ``store_errors``, ``sink_errors``, ``backpressure`` (1 while the store is down),
        ``queue_depth`` (received, not yet committed) and ``connections`` (1 + reconnects).
        """
        got = self._receiver.counts() if self._receiver is not None else {}
        return {
            "received": got.get("received", 0),
            "redelivered": got.get("redelivered", 0),
            "queue_depth": self._depth(),
            "connections": got.get("connections", 0),
            **self._committer.counts(),
        }

    def connected(self) -> bool:
        """True while the receiver holds a live connection to the broker."""
        receiver = self._receiver
        return receiver is not None and bool(receiver.counts().get("connected", 0))

    def store_healthy(self) -> bool:
        """The telemetry store takes writes: not failing, no write stuck for
        ``store.stall_warn_s``."""
        return self._committer.healthy(self.settings.store.stall_warn_s)

    def watch_store(self) -> None:
        """Log and count a write stuck for ``store.stall_warn_s`` (call periodically)."""
        self._committer.watch(self.settings.store.stall_warn_s)

    @property
    def receiver(self) -> Receiver | None:
        """Where messages come from (None before ``start``)."""
        return self._receiver

    def receiver_pid(self) -> int | None:
        """The process id of the MQTT receiver child (None: the thread receiver)."""
        return getattr(self._receiver, "pid", None)

    def _depth(self) -> int:
        queued = self._receiver.counts().get("queued", 0) if self._receiver is not None else 0
        return queued + self._inflight

    # writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            token, batch = self._take()
            if batch:
                try:
                    self._handle(token, batch)
                except Exception:  # noqa: BLE001 - unacked; the broker redelivers them
                    log.exception("ingest failed on a batch of %d messages", len(batch))
                    self._settled(len(batch))
            elif self._stopping.is_set():
                return

    def _take(self) -> tuple[object, list[Inbound]]:
        assert self._receiver is not None
        cfg = self.settings
        return self._receiver.take(
            cfg.store.batch_size,
            cfg.store.flush_interval_s,
            cfg.ingest.batch_linger_s,
            self._stopping,
            self._taking,
        )

    def _taking(self, n: int) -> None:
        self._settled(-n)  # still counted in the depth until acked

    def _handle(self, token: object, batch: list[Inbound]) -> None:
        MESSAGES_IN.inc(len(batch))
        decoded = self._decoder.decode(batch, self.clock())
        accepted = self._committer.commit(decoded, self._stopping)
        if accepted is None:  # store down while stopping; the broker keeps the messages
            self._settled(len(batch))
            return
        INGEST_LAG.set(max(0.0, self.clock() - min(m.received_at for m in batch)))
        self._after.put((token, batch, accepted))  # waits while the previous batch settles

    # sink thread --------------------------------------------------------------------

    def _settle(self, item: tuple[object, list[Inbound], list[Reading]]) -> None:
        token, batch, accepted = item
        try:
            self._committer.deliver(accepted)
            if self._receiver is not None:
                self._committer.acked(self._receiver.ack(token, batch))
        finally:
            self._settled(len(batch))

    def _settled(self, n: int) -> None:
        with self._count:
            self._inflight -= n


def _where(url: str) -> str:
    try:
        return str(broker_address(url))
    except IngestError:
        return url


def _limits(cfg: IngestSettings) -> Limits:
    return Limits(cfg.max_payload_bytes, cfg.max_future_skew_s, cfg.max_past_skew_s)
