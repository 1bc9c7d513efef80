"""A private Mosquitto on a loopback port, and a real subscriber process to count with."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class Broker:
    """A private Mosquitto on a loopback port; everything not in ``extra`` is stock.

    ``persistence`` keeps state across a restart.
    """

    def __init__(
        self,
        port: int,
        workdir: Path,
        anonymous: bool = True,
        persistence: bool = False,
        extra: str = "",
    ) -> None:
        self.port = port
        self.config = workdir / "mosquitto.conf"
        lines = [f"listener {port} 127.0.0.1", f"allow_anonymous {str(anonymous).lower()}"]
        if persistence:
            lines += ["persistence true", f"persistence_location {workdir}/"]
        self.config.write_text("\n".join([*lines, extra]) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["mosquitto", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


def wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


class SubscriberProcess:
    """``mosquitto_sub -v`` in its own process (so it keeps up), writing to a file.

    Line-buffered (``stdbuf``) so the file shows what arrived as soon as it arrived.
    """

    def __init__(self, port: int, topic: str, qos: int, out: Path) -> None:
        self.out = out
        self._file = out.open("wb")
        self.process = subprocess.Popen(
            [
                "stdbuf",
                "-oL",
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-t",
                topic,
                "-q",
                str(qos),
                "-v",
                "-d",
                "-i",
                f"count-{port}",
            ],
            stdout=self._file,
            stderr=subprocess.STDOUT,
        )
        if not _wait_until(lambda: b"SUBACK" in out.read_bytes(), 10.0):
            self.close()
            raise RuntimeError(f"mosquitto_sub got no SUBACK: {out.read_text()!r}")

    def messages(self, prefix: str) -> list[bytes]:
        """Every ``topic payload`` line received so far whose topic starts with ``prefix``."""
        return [ln for ln in self.out.read_bytes().splitlines() if ln.startswith(prefix.encode())]

    def wait_for(self, prefix: str, count: int, timeout: float = 30.0) -> list[bytes]:
        """The messages once ``count`` arrived (or ``timeout`` passed), plus a grace period
        in which anything beyond ``count`` would show up."""
        _wait_until(lambda: len(self.messages(prefix)) >= count, timeout)
        time.sleep(0.3)
        return self.messages(prefix)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._file.close()


def _wait_until(done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
