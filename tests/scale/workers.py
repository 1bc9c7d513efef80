"""Workers (``kizuki run`` processes on the NATS transport) and an MQTT 3.1.1 publisher.

Each worker is a real ``kizuki run --no-api --partitions .. --of ..`` process with its
own data directory; they share the telemetry store (one SQLite file, WAL), the case DB
(a private PostgreSQL schema) and the checkpoint directory, as workers on several
machines would share InfluxDB, PostgreSQL and a volume. Stopped or killed by PID.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from core.readings import Reading
from tickets.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
START = "from kizuki.cli import main; main()"


@dataclass
class Shared:
    """What every worker of one deployment shares."""

    nats_urls: list[str]
    telemetry: Path
    checkpoints: Path
    cases_url: str
    partitions: int = 8
    ack_wait_s: float = 2.0

    def env(self, data_dir: Path) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "KIZUKI_DATA_DIR": str(data_dir),
            "KIZUKI_LOG_LEVEL": "INFO",
            "KIZUKI_INGEST__TRANSPORT": "nats",
            "KIZUKI_NATS__URLS": json.dumps(self.nats_urls),
            "KIZUKI_NATS__ACK_WAIT_S": str(self.ack_wait_s),
            "KIZUKI_STORE__SQLITE_PATH": str(self.telemetry),
            "KIZUKI_WORKER__CHECKPOINT_DIR": str(self.checkpoints),
            "KIZUKI_CASES__DB_URL": self.cases_url,
            "KIZUKI_DETECT__CHECKPOINT_EVERY_S": "2",
            "KIZUKI_NOTIFY__MODE": "log",
        }


@dataclass
class Worker:
    name: str
    partitions: str
    process: subprocess.Popen[bytes]
    log: Path
    offset: int = 0  # where this run's lines begin in the log
    ready: str = "pulling partitions"  # what the process logs once it takes messages

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the process says it takes messages (fails if it exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready in self.text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} not ready:\n{self.text()[-3000:]}")

    def dead_letters(self) -> int:
        """Messages this worker refused (its own dead-letter store)."""
        with sqlite3.connect(self.log.parent / "deadletters.db", timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def text(self) -> str:
        """What this run of the worker logged."""
        with self.log.open("rb") as log:
            log.seek(self.offset)
            return log.read().decode(errors="replace")

    def kill9(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM: a clean stop (commits, acks, saves checkpoints); the exit status."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.kill9()
            tail = self.text()[-3000:]
            raise AssertionError(f"worker {self.name} did not stop:\n{tail}") from None


def start_worker(shared: Shared, root: Path, name: str, partitions: str) -> Worker:
    argv = ["run", "--no-api", "--worker", name, "--partitions", partitions]
    return _start(shared, root / f"worker-{name}", name, partitions, argv, {})


def start_bridge(shared: Shared, root: Path, name: str, mqtt_url: str) -> Worker:
    """``kizuki bridge``: from the MQTT broker at ``mqtt_url`` into the shared stream."""
    env = {"KIZUKI_MQTT__URL": mqtt_url, "KIZUKI_LOG_LEVEL": "INFO"}
    process = _start(shared, root / f"bridge-{name}", name, "", ["bridge", "--worker", name], env)
    process.ready = "bridge ready"
    return process


def _start(
    shared: Shared, data: Path, name: str, partitions: str, args: list[str], env: dict[str, str]
) -> Worker:
    data.mkdir(parents=True, exist_ok=True)
    log = data / "log"
    offset = log.stat().st_size if log.exists() else 0
    argv = [sys.executable, "-c", START, *args, "--of", str(shared.partitions)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            cwd=data,
            env={**shared.env(data), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Worker(name, partitions, process, log, offset)


def messages(
    ticks: Iterable[tuple[float, list[Reading]]], per_message: int = 1
) -> list[tuple[str, bytes]]:
    """(topic, payload) as the simulator sends them: each device's readings of
    ``per_message`` consecutive ticks in one message (a JSON list when more than one)."""
    out: list[tuple[str, bytes]] = []
    pending: dict[str, list[dict[str, object]]] = {}
    for i, (_, readings) in enumerate(ticks, 1):
        for r in readings:
            pending.setdefault(r.device_id, []).append({"ts": r.ts, "metrics": r.metrics})
        if i % per_message == 0:
            out.extend(_flush(pending))
    out.extend(_flush(pending))
    return out


def _flush(pending: dict[str, list[dict[str, object]]]) -> list[tuple[str, bytes]]:
    out = [
        (f"devices/{device}/telemetry", orjson.dumps(entries[0] if len(entries) == 1 else entries))
        for device, entries in pending.items()
    ]
    pending.clear()
    return out


def points(batch: Iterable[tuple[str, bytes]]) -> int:
    """Metric points in (topic, payload) pairs: what the store should hold for them."""
    total = 0
    for _, payload in batch:
        body = orjson.loads(payload)
        total += sum(len(e["metrics"]) for e in (body if isinstance(body, list) else [body]))
    return total


def _no() -> None:
    pass


class Publisher:
    """A device gateway on MQTT 3.1.1 (what NATS's MQTT listener speaks), QoS 1."""

    def __init__(self, url: str, client_id: str, window: int = 200) -> None:
        where = urlsplit(url)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311
        )
        if where.username:
            self.client.username_pw_set(where.username, where.password)
        self.client.max_inflight_messages_set(window)
        self.client.connect(where.hostname or "127.0.0.1", where.port or 1883)
        self.client.loop_start()

    def send(
        self,
        batch: Sequence[tuple[str, bytes]],
        every: int = 0,
        call: Callable[[], None] = _no,
        rate: float = 0,
    ) -> int:
        """Publish (``rate`` messages a second, 0: at once) and wait for every PUBACK;
        ``call()`` after each ``every`` messages."""
        infos = []
        start, i0 = time.monotonic(), 0
        for i, (topic, payload) in enumerate(batch, 1):
            infos.append(self.client.publish(topic, payload, qos=1))
            if every and i % every == 0:
                call()
                start, i0 = time.monotonic(), i  # the pace goes on from here, no burst
            if rate:
                time.sleep(max(0.0, start + (i - i0) / rate - time.monotonic()))
        for info in infos:
            info.wait_for_publish(60)
        return sum(1 for info in infos if info.is_published())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored_points(path: Path) -> int:
    """Points in the shared SQLite telemetry store (one row per device, metric and ts)."""
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=30) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM points").fetchone()[0])
        except sqlite3.OperationalError:  # not created yet
            return 0


def backlog(urls: list[str], partitions: int, stream: str = "KIZUKI") -> int | None:
    """Messages of every partition's durable consumer not yet delivered or not yet acked;
    None when the cluster did not answer within 2 s (while it elects a new leader after
    a node was killed, JetStream's API requests time out: ask again)."""

    async def ask() -> int | None:
        nc = await nats.connect(servers=urls, connect_timeout=2)
        try:
            js = nc.jetstream()
            total = 0
            for p in range(partitions):
                try:
                    info = await js.consumer_info(stream, f"kizuki-p{p}", timeout=2)
                except nats.js.errors.NotFoundError:
                    continue
                except nats.errors.TimeoutError:
                    return None
                total += info.num_pending + info.num_ack_pending
            return total
        finally:
            await nc.close()

    return asyncio.run(ask())


def stream_leader(urls: list[str], stream: str = "KIZUKI") -> str:
    """The server name of the stream's current leader (``n1``..)."""

    async def ask() -> str:
        nc = await nats.connect(servers=urls, connect_timeout=2)
        try:
            info = await nc.jetstream().stream_info(stream)
            assert info.cluster is not None and info.cluster.leader is not None
            return str(info.cluster.leader)
        finally:
            await nc.close()

    return asyncio.run(ask())


def stream_messages(urls: list[str], stream: str = "KIZUKI") -> int:
    """How many messages the stream holds."""

    async def ask() -> int:
        nc = await nats.connect(servers=urls, connect_timeout=2)
        try:
            return int((await nc.jetstream(timeout=10).stream_info(stream)).state.messages)
        finally:
            await nc.close()

    return asyncio.run(ask())


def cases(url: str) -> list[tuple[str, str, str, int]]:
    """(device, failure mode, status, anomaly count) of every case, in id order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT device_id, failure_mode, status, anomaly_count FROM cases ORDER BY id")
            )
            return [(str(a), str(b), str(c), int(d)) for a, b, c, d in rows]
    finally:
        engine.dispose()


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, state: Callable[[], str] = str
) -> None:
    """Until ``check()``; else fail saying ``what`` and ``state()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}: {state()}")
