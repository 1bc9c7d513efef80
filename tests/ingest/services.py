"""Real VictoriaMetrics and InfluxDB 1.x processes on free loopback ports, stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import free_port


@dataclass
class Service:
    """One child process we started; ``stop()`` ends exactly that PID."""

    name: str
    argv: list[str]
    url: str
    ready_path: str
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> None:
        if shutil.which(self.argv[0]) is None:
            raise RuntimeError(f"{self.argv[0]} not installed (see .ci/apt-packages.txt)")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1).status_code < 500:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {self.url} in {timeout} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def victoria_metrics(workdir: Path) -> Service:
    port = free_port()
    argv = [
        "victoria-metrics",
        f"-httpListenAddr=127.0.0.1:{port}",
        f"-storageDataPath={workdir / 'vm-data'}",
        "-retentionPeriod=100y",
        # No -dedup.minScrapeInterval: every raw sample stays visible, so a test sees a
        # point written twice (InfluxDB would overwrite it; VictoriaMetrics keeps both).
    ]
    url = f"http://127.0.0.1:{port}"
    return Service("victoria-metrics", argv, url, "/health", workdir / "vm.log")


def influxdb1(workdir: Path) -> Service:
    http_port, rpc_port = free_port(), free_port()
    config = workdir / "influxdb.conf"
    config.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{workdir / "meta"}"
[data]
  dir = "{workdir / "data"}"
  wal-dir = "{workdir / "wal"}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
"""
    )
    url = f"http://127.0.0.1:{http_port}"
    return Service(
        "influxd", ["influxd", "-config", str(config)], url, "/ping", workdir / "influx.log"
    )


def vm_points(url: str, metric: str) -> dict[str, list[tuple[int, float]]]:
    """Every stored sample of ``telemetry_<metric>`` per device, via the export API."""
    import orjson

    httpx.get(f"{url}/internal/force_flush", timeout=10)
    response = httpx.post(
        f"{url}/api/v1/export", data={"match[]": f"telemetry_{metric}"}, timeout=30
    )
    response.raise_for_status()
    out: dict[str, list[tuple[int, float]]] = {}
    for line in response.content.splitlines():
        series = orjson.loads(line)
        device = series["metric"]["device"]
        out.setdefault(device, []).extend(zip(series["timestamps"], series["values"], strict=True))
    return out
