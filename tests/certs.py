"""Test certificates from the shipped scripts/make-certs.sh (the openssl CLI): a CA, a
server certificate for mosquitto, localhost and 127.0.0.1, and a client certificate."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make-certs.sh"


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A fresh CA in ``folder`` and a server and a client certificate signed by it."""
    subprocess.run(
        ["bash", str(SCRIPT), str(folder)],
        check=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CERT_DAYS": "2"},
    )
    return Certs(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server.key",
        folder / "client.pem",
        folder / "client.key",
    )
