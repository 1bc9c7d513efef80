"""Start an MQTT broker on a free loopback port for ``kizuki demo`` and the tests.

The ``mosquitto`` binary is used when it is on PATH (a child process we stop by PID);
otherwise the pure-Python amqtt broker runs in-process on its own event-loop thread.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast

log = logging.getLogger(__name__)

BrokerKind = Literal["auto", "mosquitto", "amqtt"]


class BrokerStartError(RuntimeError):
    """The broker could not be started; the message says what to change."""


class RunningBroker(Protocol):
    url: str
    kind: str
    protocol: Literal["5", "3.1.1"]

    def stop(self) -> None: ...


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    return bind_problem(host, port) is None


def bind_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port``, or None if it could.

    Binds the way uvicorn and mosquitto do, with ``SO_REUSEADDR``, so a connection of an
    earlier run lingering in TIME_WAIT does not count as the port being taken.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r}: {exc.strerror}"
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is taken by another program"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


DEFAULT_MESSAGE_SIZE_LIMIT = 256 * 1024  # IngestSettings.max_payload_bytes
MOSQUITTO_CONF = """\
# Written by kizuki demo: loopback only, no persistence, queues large enough that a
# slow engine's QoS 1 messages are held rather than dropped.
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
# ingest.max_payload_bytes: larger messages never reach the engine
message_size_limit {message_size_limit}
"""


@dataclass
class MosquittoBroker:
    url: str
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    kind: str = "mosquitto"
    protocol: Literal["5", "3.1.1"] = "5"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.workdir.cleanup()


def start_mosquitto(
    binary: str, port: int, message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT
) -> MosquittoBroker:
    workdir = tempfile.TemporaryDirectory(prefix="kizuki-mosquitto-")
    conf = Path(workdir.name) / "mosquitto.conf"
    text = MOSQUITTO_CONF.format(port=port, message_size_limit=message_size_limit)
    conf.write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if not wait_for_port("127.0.0.1", port, timeout=10):
        process.kill()
        _, err = process.communicate(timeout=5)
        workdir.cleanup()
        detail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise BrokerStartError(f"mosquitto did not start on 127.0.0.1:{port}: {detail[0]}")
    return MosquittoBroker(f"mqtt://127.0.0.1:{port}", process, workdir)


class AmqttBroker:
    """amqtt's broker on a private event loop in a daemon thread."""

    kind = "amqtt"
    protocol: Literal["5", "3.1.1"] = "3.1.1"

    def __init__(self, port: int) -> None:
        self.url = f"mqtt://127.0.0.1:{port}"
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._broker: object | None = None

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout=15)
        except Exception as exc:  # amqtt raises BrokerError or OSError
            self._loop.call_soon_threadsafe(self._loop.stop)
            raise BrokerStartError(f"embedded broker did not start on {self.url}: {exc}") from None

    async def _start(self) -> None:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self._port}"}},
            "sys_interval": 0,
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        self._broker = Broker(config)
        await cast(Any, self._broker).start()

    def stop(self) -> None:
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(
                self._broker.shutdown(),  # type: ignore[attr-defined]
                self._loop,
            )
            try:
                future.result(timeout=10)
            except Exception as exc:  # shutting down: report, do not raise
                log.warning("embedded broker shutdown: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def start_broker(
    kind: BrokerKind = "auto",
    port: int | None = None,
    message_size_limit: int = DEFAULT_MESSAGE_SIZE_LIMIT,
) -> RunningBroker:
    """Start a broker on ``port`` (default: a free one) and return once it accepts.
    Mosquitto refuses messages over ``message_size_limit`` bytes (amqtt has no such limit:
    ingest then refuses them as ``too_large``)."""
    if port is not None and not port_is_free(port):
        raise BrokerStartError(f"port {port} is taken; choose another with --mqtt-port")
    port = port or free_port()
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if kind == "mosquitto" or (kind == "auto" and binary):
        if not binary:
            raise BrokerStartError("mosquitto is not installed; use --broker amqtt")
        return start_mosquitto(binary, port, message_size_limit)
    broker = AmqttBroker(port)
    broker.start()
    return broker
