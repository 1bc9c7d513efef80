"""MQTT in, JetStream out: a device's QoS 1 publish is acknowledged once the stream has it.

nats-server 2.9's MQTT listener PUBACKs a QoS 1 PUBLISH once it has routed the message,
before the stream has stored it, so killing the stream's leader loses what devices
published around the kill (``docs/scale-out.md``, "Faults"). The bridge moves the
device's acknowledgement to after the stream's: devices publish plain MQTT to a broker
(Mosquitto); the bridge subscribes with QoS 1, a persistent session and manual acks
(the ingest receivers of :mod:`ingest.receiver`), publishes each message to its
partition subject ``<prefix>.<p>.devices.<id>.telemetry`` with ``js.publish`` and waits
for the stream's publish ack, which a replicated stream sends once a quorum of replicas
has the message. Only then does the device get its PUBACK.

A publish that fails or is not answered (the leader died, an election is under way) is
sent again, with the same ``Nats-Msg-Id`` (a digest of topic and payload), until the
stream acks it: if the first try was stored after all, the stream's duplicate window
(2 minutes unless the stream says otherwise) drops the second. A bridge killed between
the stream's ack and the device's PUBACK sends nothing more; the broker redelivers to
its next session and the id (or, past the window, the store's (device, metric, ts) key)
makes the copy harmless.

The bridge computes the partition itself (:func:`core.partitions.partition_of`, the
hash the servers' ``partition(N,1)`` mapping applies), so it needs no mapping on the
servers. Messages it cannot place (a topic that does not fit, a device id with a ``.``,
which a subject cannot carry as one token) are dead letters, kept with their reason.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NatsClient

from core.partitions import partition_of
from core.readings import DeadLetter
from ingest.base import DeadLetterStore, IngestError, PayloadError
from ingest.decode import Inbound, dead_letter
from ingest.nats_source import RETRYABLE, LoopThread, connect, ensure_stream
from ingest.receiver import Receiver
from ingest.settings import NatsSettings
from ingest.topics import TopicParser

log = logging.getLogger(__name__)

PUBLISH_S = 5.0  # a publish not acked by then is sent again
RETRY_S = 0.25  # pause before sending again what the stream did not ack
STOP_S = 10.0
WARN_EVERY_S = 1.0
MSG_ID = "Nats-Msg-Id"


def message_id(topic: str, payload: bytes) -> str:
    """The publish's ``Nats-Msg-Id``: the same message always gets the same id."""
    return hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=16).hexdigest()


class Router:
    """An MQTT topic -> its partition subject (``PayloadError`` when it has none)."""

    def __init__(self, settings: NatsSettings, count: int, pattern: str) -> None:
        self.prefix, self.count = settings.subject_prefix, count
        self._topics = TopicParser(pattern)

    def __call__(self, topic: str) -> str:
        device_id = self._topics(topic)
        if "." in device_id:
            raise PayloadError("bad_topic", f"device id {device_id!r} has a '.' (a NATS subject)")
        return f"{self.prefix}.{partition_of(device_id, self.count)}.{topic.replace('/', '.')}"


@dataclass(frozen=True)
class Limits:
    batch: int = 1000
    wait_s: float = 0.5
    linger_s: float = 0.005
    report_every_s: float = 60.0  # an INFO line with the counts


class StreamPublisher:
    """Publishes to the stream from an event loop of its own; each call blocks until the
    stream has acked every message or ``stop`` is set (then the rest stay unacked)."""

    def __init__(self, settings: NatsSettings, name: str, connect_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.name = name
        self.connect_timeout_s = connect_timeout_s
        self.counts: collections.Counter[str] = collections.Counter()
        self._loop = LoopThread("kizuki-bridge-js")
        self._nc: NatsClient | None = None
        self._warned_at = -WARN_EVERY_S

    def start(self) -> None:
        """Connect and make sure the stream exists; ``IngestError`` when that fails."""
        self._loop.start()
        try:
            self._loop.call(self._connect(), self.connect_timeout_s * 3)
        except Exception as exc:  # noqa: BLE001 - one line for the operator
            self.stop()
            where = ", ".join(self.settings.urls)
            raise IngestError(f"cannot use NATS JetStream at {where}: {exc!r}") from None

    def publish(self, items: Sequence[tuple[str, bytes, str]], stop: threading.Event) -> list[bool]:
        """(subject, payload, id) each; whether the stream acked each one."""
        return self._loop.call(self._publish_all(items, stop), None)

    def stop(self) -> None:
        if self._loop.alive():
            try:
                self._loop.call(self._close(), STOP_S)
            except Exception:  # noqa: BLE001 - nothing left to save: unacked comes again
                log.debug("NATS connection did not close cleanly", exc_info=True)
            self._loop.end()

    async def _connect(self) -> None:
        self._nc = await connect(self.settings, self.name, error_cb=self._error)
        js = self._nc.jetstream(timeout=PUBLISH_S)
        deadline = time.monotonic() + self.connect_timeout_s * 2
        while True:  # a new cluster elects its leaders first
            try:
                await ensure_stream(js, self.settings)
                return
            except RETRYABLE:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(RETRY_S)

    async def _publish_all(
        self, items: Sequence[tuple[str, bytes, str]], stop: threading.Event
    ) -> list[bool]:
        acked = [False] * len(items)
        pending = list(range(len(items)))
        while pending:
            results = await asyncio.gather(
                *(self._one(*items[i]) for i in pending), return_exceptions=True
            )
            failed = [
                i for i, r in zip(pending, results, strict=True) if isinstance(r, BaseException)
            ]
            for i, result in zip(pending, results, strict=True):
                if not isinstance(result, BaseException):
                    acked[i] = True
                    self.counts["duplicates"] += bool(result.duplicate)
            self.counts["published"] += len(pending) - len(failed)
            if failed:
                self.counts["retried"] += len(failed)
                error = next(r for r in results if isinstance(r, BaseException))
                self._complain(len(failed), error)
                if stop.is_set():
                    break
                await asyncio.sleep(RETRY_S)
            pending = failed
        return acked

    def _complain(self, failed: int, error: BaseException) -> None:
        """A warning per ``WARN_EVERY_S`` while the stream does not ack (not per retry)."""
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("stream did not ack %d messages (%r); sending again", failed, error)

    async def _one(self, subject: str, payload: bytes, msg_id: str) -> Any:
        if self._nc is None:
            raise IngestError("not connected")
        js = self._nc.jetstream(timeout=PUBLISH_S)
        return await js.publish(
            subject, payload, stream=self.settings.stream, headers={MSG_ID: msg_id}
        )

    async def _close(self) -> None:
        if self._nc is not None:
            await self._nc.close()

    async def _error(self, exc: Exception) -> None:
        log.warning("NATS: %r", exc)


class Bridge:
    """Takes batches from ``receiver``, publishes them, acks what the stream acked."""

    def __init__(
        self,
        receiver: Receiver,
        publisher: StreamPublisher,
        route: Router,
        deadletters: DeadLetterStore,
        limits: Limits | None = None,
    ) -> None:
        self.receiver = receiver
        self.publisher = publisher
        self.route = route
        self.deadletters = deadletters
        self.limits = limits or Limits()
        self.counts: collections.Counter[str] = collections.Counter()

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: take, publish, ack. What is taken is settled before returning."""
        limits, reported = self.limits, time.monotonic()
        while not stop.is_set():
            token, batch = self.receiver.take(
                limits.batch, limits.wait_s, limits.linger_s, stop, _nothing
            )
            if batch:
                self.forward(token, batch, stop)
            if time.monotonic() - reported >= limits.report_every_s:
                reported = time.monotonic()
                log.info("bridge counts: %s", dict(self.counts + self.publisher.counts))

    def forward(self, token: object, batch: Sequence[Inbound], stop: threading.Event) -> int:
        """Publish ``batch``, keep its dead letters, ack the rest the stream acked."""
        items: list[tuple[str, bytes, str]] = []
        routed: list[Inbound] = []
        refused: list[Inbound] = []
        letters: list[DeadLetter] = []
        for msg in batch:
            try:
                subject = self.route(msg.topic)
            except PayloadError as exc:
                letters.append(dead_letter(msg, exc.reason, exc.detail))
                refused.append(msg)
                continue
            items.append((subject, msg.payload, message_id(msg.topic, msg.payload)))
            routed.append(msg)
        if letters:
            self.deadletters.add(letters)
            self.counts["dead_letters"] += len(letters)
        acked = self.publisher.publish(items, stop) if items else []
        done = [m for m, ok in zip(routed, acked, strict=True) if ok]
        self.counts["forwarded"] += len(done)
        return self.receiver.ack(token, done + refused)


def _nothing(_n: int) -> None:
    pass
