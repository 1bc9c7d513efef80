"""Fixtures shared by every test: real services on loopback, free ports, unique names."""

from __future__ import annotations

import os
import random
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest

MOSQUITTO_URL = os.environ.get("KIZUKI_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
POSTGRES_URL = os.environ.get(
    "KIZUKI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


_GIVEN: set[int] = set()


def _ephemeral_low() -> int:
    """Where the kernel's range of ports for outgoing connections begins."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """A loopback port free now, for a server a test starts next.

    Not one the kernel would hand out itself (port 0 gives a port of its ephemeral
    range): between our check and the server's bind, any outgoing connection on the
    machine may take such a port as its local end (a NATS node dialling its peers' routes
    did, and the third node of a test cluster could not listen). Below that range only
    a listener takes a port. Never the same port twice in one test session, and never
    one another pytest-xdist worker may pick: each worker draws from its own slice."""
    low, high = 10000, max(_ephemeral_low(), 12000)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    size = (high - low) // workers
    ports = random.Random().sample(range(low + worker * size, low + (worker + 1) * size), 200)
    for port in ports:
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(port)
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def tampered(token: str) -> str:
    """``token`` with one signature character changed, so it is certainly another token.

    Not the last character: in URL-safe base64 the last one carries padding bits, so two
    different last characters can decode to the same bytes (the old "replace the last
    two characters" made a token that was still valid about once in a thousand runs)."""
    at = len(token) - 6
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    replacement = next(c for c in alphabet if c != token[at])
    return token[:at] + replacement + token[at + 1 :]


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mosquitto_url() -> str:
    """The machine's real Mosquitto; a test fails (not skips) when it is not running."""
    host, port = MOSQUITTO_URL.removeprefix("mqtt://").split(":")
    with socket.create_connection((host, int(port)), timeout=3):
        pass
    return MOSQUITTO_URL


@pytest.fixture
def unique() -> str:
    """A short unique token for topics, device ids and database names."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def postgres_url() -> str:
    return POSTGRES_URL


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
            return list(self.messages)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self.sink.arrived:
            self.sink.messages.append(msg)
            self.sink.arrived.notify_all()
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) on a free loopback port, collecting what it receives."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", free_port())
    controller = Controller(
        _Handler(sink), hostname=sink.host, port=sink.port, auth_require_tls=False
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
