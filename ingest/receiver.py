"""Where ingest's messages come from: paho's client, on a thread here or in a child process.

``ThreadReceiver`` runs paho's network loop on a thread of this process. Its
``on_message`` appends each message to a bounded queue; the writer ``take``s batches and
hands them back to ``ack`` once they are committed.

``ProcessReceiver`` (the default, ``ingest.receiver = "process"``) runs a
``ThreadReceiver`` in a child process and talks to it over two pipes: one the writer
uses to take batches, one the sink thread uses to send acks. Python runs one thread at a
time per process, and paho's per-message work (~40 us of Python per QoS 1 message here)
is as large as everything else ingest does per reading put together (decoding, the
store, detection). In one process they take turns; with the receiver on its own, paho
runs on one core while decoding, committing and detection run on another. Measured in
``bench/ingest.py`` (2-core machine, 50,000 readings in time order): 0.49-0.63 of the
bare paho ceiling with paho on a thread, 0.69-0.70 with the child (``docs/ingest.md``).

Nothing about the guarantees changes. The child acks only what the parent says is
committed, and only on the connection that delivered it. If the parent dies (even
``kill -9``), the child sees its pipe close and exits at once without acking anything
more; the broker keeps the session's unacked messages. If the child dies, the parent
logs it and starts another; acks owed to the dead child's connection are dropped and
the broker redelivers those messages (the store's key makes that harmless). The child
ignores SIGINT and SIGTERM, so a Ctrl-C or a service manager's SIGTERM to the whole
process group leaves the stop to the parent, which acks what it committed first.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, cast

import paho.mqtt.client as paho

from core.logs import configure, current_format
from core.mqtt_url import BrokerAddress
from ingest.base import IngestError
from ingest.connection import (
    ConnectOutcome,
    ack_all,
    broker_address,
    confirm_acks,
    make_client,
    max_packet_for,
    open_connection,
)
from ingest.decode import Inbound
from ingest.settings import IngestConfig, MqttSettings

log = logging.getLogger("ingest.receiver")  # also when run as __main__ (the child)

ClientFactory = Callable[[MqttSettings, BrokerAddress], paho.Client]
# (mid, qos, generation): what an ack needs of a message
AckId = tuple[int, int, int]
CHILD_START_S = 60.0  # importing paho and connecting, beyond the connect timeout
RESTART_PAUSE_S = 1.0
COUNTS_FRESH_S = 0.1
_STATES = ("queued", "connected")  # the live child's, not summed over children


class Receiver(Protocol):
    def start(self) -> None: ...

    def take(
        self,
        limit: int,
        wait_s: float,
        linger_s: float,
        interrupt: threading.Event,
        taking: Callable[[int], None],
    ) -> tuple[object, list[Inbound]]: ...

    def ack(self, token: object, batch: Sequence[Inbound]) -> int: ...

    def stop(self) -> None: ...

    def counts(self) -> dict[str, int]: ...


class ThreadReceiver:
    """paho's loop on a thread of this process, feeding a bounded queue."""

    def __init__(
        self,
        settings: IngestConfig,
        url: str,
        clock: Callable[[], float] = time.time,
        connect_timeout_s: float = 10.0,
        client_factory: ClientFactory = make_client,
    ) -> None:
        self.settings = settings
        self.url = url
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.client_factory = client_factory
        self._queue: collections.deque[Inbound] = collections.deque()
        self._capacity = max(1, settings.ingest.queue_size)
        self._wake = threading.Event()
        self._room = threading.Condition()
        self._idle = False
        self._stopping = False
        self._connection = threading.Lock()  # generation changes and acks, never both at once
        self._generation = 0
        self._connections = 0
        self._received = 0
        self._redelivered = 0
        self._client: paho.Client | None = None
        self._connected = False
        self._outcome = ConnectOutcome(threading.Event())

    def start(self) -> None:
        """Connect and subscribe; ``IngestError`` with one clear line when the broker says no."""
        address = broker_address(self.url)
        client = self.client_factory(self.settings.mqtt, address)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        open_connection(
            client,
            self.settings.mqtt,
            address,
            self._capacity,
            max_packet_for(self.settings.ingest.max_payload_bytes),
        )
        client.loop_start()
        try:
            self._outcome.wait(
                address, address.username, self.settings.mqtt.topic, self.connect_timeout_s
            )
        except IngestError:
            client.disconnect()
            client.loop_stop()
            raise

    def take(
        self,
        limit: int,
        wait_s: float,
        linger_s: float,
        interrupt: threading.Event,
        taking: Callable[[int], None],
    ) -> tuple[object, list[Inbound]]:
        """Up to ``limit`` queued messages; waits up to ``wait_s`` for the first, then
        ``linger_s`` more after an idle spell (a trickle becomes one batch). ``taking(n)``
        is called before the messages leave the queue, so a depth gauge never dips."""
        queue = self._queue
        if not queue and not interrupt.is_set():
            self._idle = True
            if not queue:
                self._wake.wait(wait_s)
            self._idle = False
            self._wake.clear()
            if queue and linger_s > 0:
                interrupt.wait(linger_s)
        n = min(limit, len(queue))
        taking(n)
        batch = [queue.popleft() for _ in range(n)]
        with self._room:
            self._room.notify_all()
        return None, batch

    def ack(self, token: object, batch: Sequence[Inbound]) -> int:
        return self.ack_ids(_ack_ids(batch))

    def ack_ids(self, ids: Iterable[AckId]) -> int:
        """Ack the messages delivered on the live connection; how many those were."""
        client = self._client
        if client is None:
            return 0
        with self._connection:
            generation = self._generation
            # A message from an earlier connection is redelivered by the broker; its
            # packet id on this connection could belong to another, uncommitted one.
            live = [(mid, qos) for mid, qos, gen in ids if gen == generation]
            ack_all(client, [mid for mid, qos in live if qos == 1])
            for mid, qos in live:
                if qos == 2:
                    client.ack(mid, 2)
        return len(live)

    def stop(self) -> None:
        """Make sure the broker has the acks sent so far, then disconnect."""
        self._stopping = True
        if self._client is not None:
            confirm_acks(self._client, self.settings.mqtt.client_id)
            self._client.disconnect()
            self._client.loop_stop()

    def counts(self) -> dict[str, int]:
        return {
            "received": self._received,
            "redelivered": self._redelivered,
            "connections": self._connections,
            "queued": len(self._queue),
            "connected": int(self._connected),
        }

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
        self._connected = True
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
        self._connected = False
        if not self._stopping:
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
            # Blocks paho's thread: the broker keeps the rest until the writer catches up.
            with self._room:
                self._room.wait_for(lambda: len(self._queue) < self._capacity, timeout=1.0)


class ProcessReceiver:
    """A ``ThreadReceiver`` in a child process; see the module docstring."""

    def __init__(self, settings: IngestConfig, url: str, connect_timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._takes: Connection | None = None
        self._acks: Connection | None = None
        self._ack_lock = threading.Lock()
        self._epoch = 0  # which child; acks for an earlier one's messages are dropped
        self._last: dict[str, int] = {}
        self._before: collections.Counter[str] = collections.Counter()  # earlier children
        self._stopped = False
        self._asked = 0.0
        self.connecting_at: float | None = None  # wall time the live child began to connect

    def start(self) -> None:
        takes, child_takes = _pipe()
        acks, child_acks = _pipe()
        fds = (child_takes.fileno(), child_acks.fileno())
        # a plain child (not multiprocessing's): no helper processes, nothing inherited
        # but these two sockets; it finds this package where we found it
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
            ),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "ingest.receiver", *map(str, fds)],
            pass_fds=fds,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        child_takes.close()
        child_acks.close()
        takes.send(
            (
                self.settings,
                self.url,
                self.connect_timeout_s,
                logging.getLogger().getEffectiveLevel(),
                current_format(),
            )
        )
        answer: tuple[str, Any, dict[str, int]] = (
            "error",
            "the MQTT receiver process did not start",
            {},
        )
        try:
            if takes.poll(self.connect_timeout_s + CHILD_START_S):
                answer = takes.recv()
        except (EOFError, OSError):
            answer = ("error", f"the MQTT receiver process exited ({process.poll()})", {})
        what, detail, counts = answer
        if what != "ready":
            process.kill()
            process.wait()
            takes.close()
            acks.close()
            raise IngestError(str(detail))
        self._process, self._takes, self._acks = process, takes, acks
        self._epoch += 1
        self.connecting_at, self._last = float(detail), counts
        log.info("MQTT receiver process %d started", process.pid)

    def take(
        self,
        limit: int,
        wait_s: float,
        linger_s: float,
        interrupt: threading.Event,
        taking: Callable[[int], None],
    ) -> tuple[object, list[Inbound]]:
        epoch, takes = self._epoch, self._takes
        try:
            if takes is None:  # a restart failed: try again
                raise EOFError
            takes.send((limit, wait_s, linger_s))
            batch, counts = takes.recv()
        except (EOFError, OSError):
            self._revive(interrupt)
            return epoch, []
        taking(len(batch))
        self._last, self._asked = counts, time.monotonic()
        return epoch, batch

    def ack(self, token: object, batch: Sequence[Inbound]) -> int:
        ids = _ack_ids(batch)
        with self._ack_lock:
            if token != self._epoch or self._acks is None:
                return 0  # delivered by a child that is gone: the broker redelivers them
            try:
                self._acks.send(("ack", ids))
                return int(self._acks.recv())
            except (EOFError, OSError):
                return 0

    def stop(self) -> None:
        """The child confirms the acks with the broker and disconnects; then it exits."""
        self._stopped = True
        process, acks = self._process, self._acks
        if process is None or acks is None:
            return
        with self._ack_lock:
            try:
                acks.send(("stop", None))
                if acks.poll(30.0):
                    self._last = acks.recv()
            except (EOFError, OSError):
                pass
        try:
            process.wait(10.0)
        except subprocess.TimeoutExpired:
            log.warning("MQTT receiver process %d did not stop; killing it", process.pid)
            process.kill()
            process.wait()
        self._close()

    @property
    def pid(self) -> int | None:
        """The live child's process id."""
        return None if self._process is None else int(self._process.pid)

    def counts(self) -> dict[str, int]:
        """Summed over every child; asks the live one when the last answer is older than
        ``COUNTS_FRESH_S`` (the writer's takes bring fresh counts while it is busy)."""
        if time.monotonic() - self._asked >= COUNTS_FRESH_S:
            self._ask_counts()
        counts = collections.Counter(self._before)
        counts.update(self._last)
        for state in _STATES:
            counts[state] = self._last.get(state, 0)
        return dict(counts)

    def _ask_counts(self) -> None:
        with self._ack_lock:
            self._asked = time.monotonic()
            if self._acks is None:
                return
            try:
                self._acks.send(("counts", None))
                if self._acks.poll(1.0):
                    self._last = self._acks.recv()
            except (EOFError, OSError):
                pass

    def _revive(self, interrupt: threading.Event) -> None:
        """The child is gone (or its pipe is): end it for sure, start another."""
        with self._ack_lock:
            if not self._stopped:
                self._restart(interrupt)

    def _restart(self, interrupt: threading.Event) -> None:
        process = self._process
        if process is not None:
            process.kill()
            process.wait()
            log.error(
                "MQTT receiver process %d exited (code %s); starting another; unacked "
                "messages come again from the broker",
                process.pid,
                process.returncode,
            )
            self._before.update({k: v for k, v in self._last.items() if k not in _STATES})
            self._last = {}
            self._process = None
            self._close()
        try:
            self.start()
        except IngestError as exc:
            log.error("cannot start the MQTT receiver process, retrying: %s", exc)
            interrupt.wait(RESTART_PAUSE_S)

    def _close(self) -> None:
        for conn in (self._takes, self._acks):
            if conn is not None:
                conn.close()
        self._takes = self._acks = None


# the child process -------------------------------------------------------------------


def _pipe() -> tuple[Connection, socket.socket]:
    """(our end as a Connection, the child's end as a socket to pass it)."""
    ours, theirs = socket.socketpair()
    return Connection(ours.detach()), theirs


def main(argv: Sequence[str]) -> None:
    """``python -m ingest.receiver TAKES_FD ACKS_FD``: what ProcessReceiver starts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    takes, acks = (Connection(int(fd)) for fd in argv)
    try:
        settings, url, connect_timeout_s, log_level, log_format = takes.recv()
    except (EOFError, OSError):
        return
    configure(log_level, log_format)
    receiver = ThreadReceiver(settings, url, time.time, connect_timeout_s)
    connecting_at = time.time()
    try:
        receiver.start()
    except IngestError as exc:
        takes.send(("error", str(exc), {}))
        return
    takes.send(("ready", connecting_at, receiver.counts()))
    threading.Thread(target=_serve_acks, args=(receiver, acks), daemon=True).start()
    never = threading.Event()
    while True:
        try:
            limit, wait_s, linger_s = takes.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone: ack nothing more, the broker keeps the rest
        _, batch = receiver.take(limit, wait_s, linger_s, never, _ignore)
        takes.send((batch, receiver.counts()))


def _serve_acks(receiver: ThreadReceiver, acks: Connection) -> None:
    while True:
        try:
            what, ids = acks.recv()
        except (EOFError, OSError):
            os._exit(0)
        if what == "counts":
            acks.send(receiver.counts())
            continue
        if what == "stop":
            receiver.stop()
            acks.send(receiver.counts())
            logging.shutdown()
            os._exit(0)
        acks.send(receiver.ack_ids(ids))


def _ignore(_n: int) -> None:
    pass


def _ack_ids(batch: Sequence[Inbound]) -> list[AckId]:
    return [(m.mid, m.qos, m.generation) for m in batch]


if __name__ == "__main__":
    main(sys.argv[1:])
