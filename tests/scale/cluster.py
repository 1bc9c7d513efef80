"""A 3-node NATS JetStream cluster with MQTT listeners, on loopback ports, in a temp dir.

Each node gets a client port, a cluster (route) port and an MQTT port; the config maps
device topics onto partition subjects exactly as ``deploy/nats/nats.conf`` documents::

    devices/abc/telemetry (MQTT)  ->  devices.abc.telemetry  ->  part.<p>.devices.abc.telemetry

Processes are started with ``nats-server`` (Debian's, /usr/sbin) and stopped by PID.
Used by ``tests/scale`` and ``bench/scale.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"

CONFIG = """\
server_name: {name}
listen: 127.0.0.1:{client}
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: kizuki
  listen: 127.0.0.1:{route}
  routes: [{routes}]
}}
mqtt {{
  listen: 127.0.0.1:{mqtt}
  ack_wait: "10s"
}}
mappings = {{
  "{prefix}.*.telemetry": "part.{{{{partition({partitions},1)}}}}.{prefix}.{{{{wildcard(1)}}}}\
.telemetry"
}}
"""


@dataclass
class Node:
    name: str
    client: int
    route: int
    mqtt: int
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt}"


@dataclass
class Cluster:
    """``start()``/``stop()`` the nodes; ``kill(i)`` is a kill -9 of node ``i``."""

    root: Path
    partitions: int = 8
    prefix: str = "devices"
    size: int = 3
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        ports = [(free_port(), free_port(), free_port()) for _ in range(self.size)]
        for i, (client, route, mqtt) in enumerate(ports):
            name = f"n{i + 1}"
            routes = ", ".join(f"nats-route://127.0.0.1:{r}" for _, r, _ in ports)
            store = self.root / name / "js"
            store.mkdir(parents=True, exist_ok=True)
            config = self.root / name / "nats.conf"
            config.write_text(
                CONFIG.format(
                    name=name,
                    client=client,
                    route=route,
                    mqtt=mqtt,
                    store=store,
                    routes=routes,
                    prefix=self.prefix,
                    partitions=self.partitions,
                )
            )
            self.nodes.append(Node(name, client, route, mqtt, config, self.root / name / "log"))

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self, timeout: float = 20.0) -> None:
        for i in range(self.size):
            self.start_node(i)
        for node in self.nodes:
            _wait_port(node.client, timeout, node.log)
            _wait_port(node.mqtt, timeout, node.log)

    def start_node(self, i: int) -> None:
        node = self.nodes[i]
        out = node.log.open("ab")
        node.process = subprocess.Popen(
            [NATS_SERVER, "-c", str(node.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()

    def restart_node(self, i: int, timeout: float = 20.0) -> None:
        self.start_node(i)
        _wait_port(self.nodes[i].client, timeout, self.nodes[i].log)

    def kill(self, i: int) -> None:
        process = self.nodes[i].process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)

    def stop(self) -> None:
        for node in self.nodes:
            process = node.process
            if process is not None and process.poll() is None:
                process.terminate()
        for node in self.nodes:
            process = node.process
            if process is None:
                continue
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(10)


def _wait_port(port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"nats-server did not listen on 127.0.0.1:{port}:\n{tail}")
