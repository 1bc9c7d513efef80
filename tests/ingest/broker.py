"""Mosquitto with the shipped deploy/mosquitto config, on a free loopback port, by PID."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
from pathlib import Path

from tests.certs import make_certs
from tests.conftest import free_port
from tests.ingest.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "mosquitto"
ENGINE = "kizuki-engine:engine-dev-password"
SIMULATOR = "kizuki-simulator:simulator-dev-password"


class ShippedBroker:
    """Mosquitto running the shipped config, moved to a free loopback port and temp dirs;
    with ``tls=True`` also the shipped TLS listener (conf.d/tls.conf) on another free port,
    with certificates made for the test (``self.certs``)."""

    def __init__(self, workdir: Path, tls: bool = False) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        conf = (DEPLOY / "mosquitto.conf").read_text()
        conf = conf.replace("listener 1883", f"listener {self.port} 127.0.0.1")
        conf = conf.replace("/mosquitto/config/", f"{workdir}/")
        conf = conf.replace("/mosquitto/data/", f"{workdir}/")
        # As root, mosquitto would drop to its own user, which cannot read pytest's dirs.
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(conf + f"\nuser {getpass.getuser()}\n")
        for name in ("passwd", "acl"):
            shutil.copy(DEPLOY / name, workdir / name)
        (workdir / "conf.d").mkdir(exist_ok=True)
        self.tls_port = free_port() if tls else None
        self.certs = make_certs(workdir / "certs") if tls else None
        if self.tls_port is not None:
            tls_conf = (DEPLOY / "conf.d" / "tls.conf").read_text()
            tls_conf = tls_conf.replace("listener 8883", f"listener {self.tls_port} 127.0.0.1")
            tls_conf = tls_conf.replace("/mosquitto/config/", f"{workdir}/")
            (workdir / "conf.d" / "tls.conf").write_text(tls_conf)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: _port_open(self.port), timeout=10):
            raise RuntimeError(f"mosquitto did not listen on {self.address}")
        if self.tls_port is not None and not wait_until(lambda: _port_open(self.tls_port), 10):
            raise RuntimeError(f"mosquitto did not listen on TLS port {self.tls_port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def url(self, creds: str = ENGINE) -> str:
        return f"mqtt://{creds}@{self.address}"

    def tls_url(self, creds: str = ENGINE, host: str = "localhost") -> str:
        return f"mqtts://{creds}@{host}:{self.tls_port}"


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
