"""Messages from NATS JetStream: a worker pulls its partitions through durable consumers.

The partitioned path (``docs/scale-out.md``): devices publish plain MQTT to the NATS
servers' MQTT listener; a subject mapping turns ``devices/<id>/telemetry`` into
``part.<p>.devices.<id>.telemetry`` with ``p = partition(N, id)``; one replicated stream
holds every partition subject. Partition ``p`` has one durable pull consumer,
``<durable_prefix>-p<p>``, filtered to ``part.<p>.>``: whichever worker owns ``p`` pulls
through it, so a partition moved to another worker resumes from its ack floor.

:class:`NatsReceiver` is a :class:`~ingest.receiver.Receiver`: ``MqttIngest`` takes
batches from it, commits them, runs the sink and only then calls ``ack``, which acks
each message to JetStream and waits until the server has the acks (a flush round trip).
A message not acked (the worker died, or the store was down) is delivered again after
``ack_wait_s``; the store's (device, metric, ts) key makes that harmless. A JetStream
ack names the message by its reply subject, not by the connection, so acks stay valid
across reconnects to another node of the cluster.

nats-py is asyncio: the client runs on an event loop in a thread of its own; one fetch
task per owned partition fills a bounded queue the writer takes from.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from ingest.base import IngestError
from ingest.decode import Inbound
from ingest.nats_leases import Leases
from ingest.settings import NatsSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
STOP_S = 10.0
JS_API_S = 10.0  # JetStream API requests (stream and consumer info)
PROBE_S = 1.0  # asking whether JetStream answers at all
# a cluster still electing leaders (of the stream, of the lease bucket another worker
# has just made) answers with these
RETRYABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
)


class LoopThread:
    """An asyncio event loop in a daemon thread of its own (nats-py is asyncio), for the
    worker's receiver and the bridge's publisher alike."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(self, coro: Awaitable[T], timeout: float | None) -> T:
        """Run ``coro`` on the loop and wait for it; given up on, its task is cancelled
        (it ends with the loop, not pending)."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        finally:
            future.cancel()

    def end(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STOP_S)


async def connect(settings: NatsSettings, name: str, **callbacks: Any) -> NatsClient:
    """A client of the cluster that reconnects for ever (any node of ``settings.urls``)."""
    return await nats.connect(
        servers=list(settings.urls),
        name=name,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        **callbacks,
    )


IDLE_S = 1.0  # a pull waits this long for a first message
MORE_S = 0.02  # then this long for the rest of a batch


def partition_subject(settings: NatsSettings, partition: int | str) -> str:
    """``part.<p>.>``: the subjects of one partition (``"*"``: of every partition)."""
    return f"{settings.subject_prefix}.{partition}.>"


def durable_name(settings: NatsSettings, partition: int) -> str:
    return f"{settings.durable_prefix}-p{partition}"


def stream_config(settings: NatsSettings) -> StreamConfig:
    """The one stream holding every partition subject (file storage, replicated)."""
    return StreamConfig(
        name=settings.stream,
        subjects=[partition_subject(settings, "*")],
        num_replicas=settings.replicas,
        max_age=settings.max_age_s,
        storage=StorageType.FILE,
    )


def consumer_config(settings: NatsSettings, partition: int) -> ConsumerConfig:
    """Partition ``partition``'s durable pull consumer: explicit acks, from the start."""
    return ConsumerConfig(
        durable_name=durable_name(settings, partition),
        filter_subject=partition_subject(settings, partition),
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=settings.ack_wait_s,
        max_ack_pending=settings.max_ack_pending,
    )


async def ensure_stream(js: Any, settings: NatsSettings) -> None:
    """Create the stream (:func:`stream_config`) unless it exists."""
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(stream_config(settings))
        log.info("created stream %s", settings.stream)


class NatsReceiver:
    """Pulls the owned partitions' messages; acks after commit. See the module docstring."""

    def __init__(
        self,
        settings: NatsSettings,
        partitions: Collection[int],
        *,
        queue_size: int = 20000,
        connect_timeout_s: float = 10.0,
        name: str = "kizuki",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not partitions:
            raise IngestError("a NATS worker needs at least one partition to own")
        self.settings = settings
        self.partitions = sorted(partitions)
        self.capacity = max(1, queue_size)
        self.connect_timeout_s = connect_timeout_s
        self.name = name
        self.clock = clock
        self._queue: collections.deque[Inbound] = collections.deque()
        self._wake = threading.Event()
        self._held: dict[int, Msg] = {}  # mid -> message, until acked
        self._ids = itertools.count(1)
        self._loop = LoopThread("kizuki-nats")
        self._nc: NatsClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._leases = Leases(settings, name, self.partitions)
        self._draining = False
        self._counts: collections.Counter[str] = collections.Counter()

    # Receiver -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect, make sure the stream and this worker's consumers exist, start pulling."""
        self._loop.start()
        try:
            wait_s = self.connect_timeout_s * 3 + self.settings.lease_wait_s
            self._loop.call(self._connect(), wait_s)
        except Exception as exc:
            self._abandon()
            if isinstance(exc, IngestError):
                raise
            where = ", ".join(self.settings.urls)
            raise IngestError(f"cannot use NATS JetStream at {where}: {exc!r}") from None
        log.info("pulling partitions %s from stream %s", self.partitions, self.settings.stream)

    def take(
        self,
        limit: int,
        wait_s: float,
        linger_s: float,
        interrupt: threading.Event,
        taking: Callable[[int], None],
    ) -> tuple[object, list[Inbound]]:
        """Up to ``limit`` fetched messages (waits ``wait_s`` for the first, then
        ``linger_s`` more). Once ``interrupt`` is set no more are fetched."""
        if interrupt.is_set():
            self._draining = True
        queue = self._queue
        if not queue and not interrupt.is_set():
            self._wake.wait(wait_s)
            self._wake.clear()
            if queue and linger_s > 0:
                interrupt.wait(linger_s)
        n = min(limit, len(queue))
        taking(n)
        return None, [queue.popleft() for _ in range(n)]

    def ack(self, token: object, batch: Sequence[Inbound]) -> int:
        """Ack the batch's messages; returns how many the server confirmed (0 if not)."""
        msgs = [m for m in (self._held.pop(i.mid, None) for i in batch) if m is not None]
        if not msgs:
            return 0
        try:
            self._loop.call(self._ack(msgs), STOP_S)
        except Exception as exc:  # noqa: BLE001 - unacked messages come again after ack_wait
            log.warning("acks of %d messages not confirmed (%r); they come again", len(msgs), exc)
            return 0
        self._counts["acked"] += len(msgs)
        return len(msgs)

    def stop(self) -> None:
        """Stop pulling, hand back (nak) what was fetched but not taken, disconnect."""
        self._draining = True
        if self._loop.alive():
            try:
                self._loop.call(self._close(), STOP_S * 2)
            except Exception:  # noqa: BLE001 - unacked messages come again after ack_wait
                log.exception("NATS connection did not close cleanly")
            self._loop.end()

    def counts(self) -> dict[str, int]:
        """``received``, ``redelivered`` (delivered before), ``acked``, ``queued``, and
        ``connections`` (1 + reconnects)."""
        return {**self._counts, "queued": len(self._queue)}

    # the event loop -----------------------------------------------------------------

    def _abandon(self) -> None:
        """After a failed start: close what was opened, end the loop."""
        try:
            self._loop.call(self._close(), STOP_S)
        except Exception:  # noqa: BLE001 - nothing more to save
            log.debug("NATS connection did not close", exc_info=True)
        self._loop.end()

    async def _connect(self) -> None:
        self._nc = await connect(
            self.settings, self.name, reconnected_cb=self._reconnected, error_cb=self._error
        )
        self._counts["connections"] += 1
        probe = self._nc.jetstream(timeout=PROBE_S)  # a new cluster elects its leaders first
        await self._retrying(probe.account_info)
        js = self._nc.jetstream(timeout=JS_API_S)
        await self._retrying(lambda: ensure_stream(js, self.settings))
        await self._retrying(lambda: self._leases.acquire(js, self.settings.lease_wait_s))
        for p in self.partitions:
            sub = await self._retrying(functools.partial(self._subscribe, js, p))
            self._tasks.append(asyncio.create_task(self._pull(p, sub)))
        self._tasks.append(asyncio.create_task(self._keep_held()))
        self._tasks.append(asyncio.create_task(self._keep_leases()))

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` again while the cluster has no leader for it yet (elections, load)."""
        deadline = time.monotonic() + self.connect_timeout_s * 2
        while True:
            try:
                return await call()
            except RETRYABLE as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("JetStream not ready (%r); asking again", exc)
                await asyncio.sleep(0.25)

    async def _subscribe(self, js: Any, p: int) -> Any:
        return await js.pull_subscribe(
            partition_subject(self.settings, p),
            durable=durable_name(self.settings, p),
            stream=self.settings.stream,
            config=consumer_config(self.settings, p),
        )

    async def _pull(self, partition: int, sub: Any) -> None:
        while not self._draining:
            room = self.capacity - len(self._queue)
            if room <= 0:
                await asyncio.sleep(0.01)
                continue
            try:
                msgs = await self._fetch(sub, min(room, self.settings.fetch_batch))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except Exception as exc:  # noqa: BLE001 - a node went away: try again
                log.warning("fetch of partition %d failed (%r); trying again", partition, exc)
                await asyncio.sleep(0.5)
                continue
            self._hold(msgs)

    @staticmethod
    async def _fetch(sub: Any, n: int) -> list[Msg]:
        """Wait (up to ``IDLE_S``) for one message, then take up to ``n`` - 1 more that
        come within ``MORE_S``: a pull of n waits until n are there or it expires, so one
        pull of n would hold a trickle back for the whole wait."""
        first: list[Msg] = await sub.fetch(1, timeout=IDLE_S)
        if n > 1:
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                first += await sub.fetch(n - 1, timeout=MORE_S)
        return first

    async def _keep_held(self) -> None:
        """Every third of ``ack_wait_s``, tell the server the held messages are still being
        worked on: a slow commit (the store down, a long batch) must not see its own
        messages delivered again while it still holds them. A dead worker sends nothing,
        so its messages come again after ``ack_wait_s``."""
        while True:
            await asyncio.sleep(self.settings.ack_wait_s / 3)
            for msg in list(self._held.values()):
                with contextlib.suppress(Exception):  # acked meanwhile, or a node went away
                    await msg.in_progress()

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl_s / 3)
            try:
                await self._leases.renew()
            except Exception as exc:  # noqa: BLE001 - a node went away: renew next time
                log.warning("partition leases not renewed (%r)", exc)

    def _hold(self, msgs: list[Msg]) -> None:
        now = self.clock()
        for msg in msgs:
            mid = next(self._ids)
            self._held[mid] = msg
            again = msg.metadata.num_delivered > 1
            self._queue.append(Inbound(msg.subject, msg.data, now, mid, 1, again, 0))
            self._counts["redelivered"] += again
        self._counts["received"] += len(msgs)
        if msgs:
            self._wake.set()

    async def _ack(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await msg.ack()
        assert self._nc is not None
        await self._nc.flush(timeout=5)

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        while self._queue:  # fetched, never taken: the next owner gets them at once
            msg = self._held.pop(self._queue.popleft().mid, None)
            if msg is not None:
                await msg.nak()
        with contextlib.suppress(Exception):
            await self._leases.release()
        if self._nc is not None:
            await self._nc.close()

    async def _reconnected(self) -> None:
        self._counts["connections"] += 1
        log.warning("NATS reconnected to %s", self._nc.connected_url if self._nc else "?")

    async def _error(self, exc: Exception) -> None:
        log.warning("NATS: %r", exc)
