"""Ingest benchmark: Kizuki's MqttIngest against a bare paho subscriber, same broker, same load.

    python bench/ingest.py --readings 100000

Starts a private Mosquitto (the shipped deploy/mosquitto config on a free loopback port),
then for each consumer (``bare``: paho QoS 1 subscriber that does nothing, the client
ceiling; ``kizuki``: MqttIngest, ack-after-commit to SQLite, an EWMA detector as sink):

* backlog: N readings from many devices are queued in the consumer's persistent session
  by parallel ``mosquitto_pub -l`` processes, then the consumer drains them; readings/s
  is N over the time from connecting to the last reading received (bare) or committed
  and acked (kizuki);
* live: the consumer is connected while a paced paho publisher sends readings whose
  ``ts`` is the publish time; lag is commit (or receive) time minus ``ts``.

Each consumer runs in its own process, so peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

ENGINE = ("kizuki-engine", "engine-dev-password")
PUBLISHER = ("kizuki-simulator", "simulator-dev-password")
TOPIC = "devices/+/telemetry"


# --- consumers (child processes) ---------------------------------------------------------


def _bare(url: str, client_id: str, expect: int) -> dict[str, object]:
    """paho QoS 1 subscriber, automatic acks, keeps only (receive time, payload)."""
    import threading

    got: list[tuple[float, bytes]] = []
    done = threading.Event()

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        got.append((time.time(), msg.payload))
        if len(got) >= expect:
            done.set()

    client = _client(client_id)
    client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    client.on_message = on_message
    start = time.time()
    _connect(client, url)
    client.loop_start()
    print("ready", flush=True)
    if not done.wait(120):
        raise SystemExit(f"bare consumer got {len(got)} of {expect} readings in 120 s")
    end = got[-1][0]
    client.disconnect()
    client.loop_stop()
    lags = [t - orjson.loads(p)["ts"] for t, p in got]
    return {"n": len(got), "seconds": end - start, "lags": lags}


def _kizuki(url: str, client_id: str, expect: int, workdir: Path) -> dict[str, object]:
    """MqttIngest committing to SQLite, with a per-(device, metric) EWMA detector sink."""
    from ingest.deadletters import SqliteDeadLetters
    from ingest.embedded_store import SqliteStore
    from ingest.mqtt import MqttIngest
    from kizuki.config import Settings

    lags: list[float] = []
    detector = EwmaDetector()

    def sink(batch: list) -> None:  # type: ignore[type-arg]
        now = time.time()
        detector.update(batch)
        lags.extend(now - r.ts for r in batch)

    settings = Settings(
        mqtt={"url": url, "client_id": client_id, "session_expiry_s": 600},
        store={"batch_size": 5000},
    )
    store = SqliteStore(workdir / f"{client_id}.db")
    ingest = MqttIngest(settings, store, SqliteDeadLetters(workdir / "dead.db"), sink=sink)
    start = time.time()
    ingest.start()
    print("ready", flush=True)
    deadline = time.time() + 120
    while ingest.stats()["acked"] < expect:
        if time.time() > deadline:
            raise SystemExit(f"kizuki consumer acked {ingest.stats()['acked']} of {expect}")
        time.sleep(0.002)
    end = time.time()
    ingest.stop()
    store.close()
    return {"n": ingest.stats()["readings"], "seconds": end - start, "lags": lags}


class EwmaDetector:
    """A simple streaming detector: EWMA mean/variance per (device, metric), z-score."""

    def __init__(self, alpha: float = 0.05) -> None:
        self.alpha = alpha
        self.state: dict[tuple[str, str], list[float]] = {}
        self.alarms = 0

    def update(self, readings: list) -> None:  # type: ignore[type-arg]
        a = self.alpha
        for r in readings:
            for metric, x in r.metrics.items():
                s = self.state.setdefault((r.device_id, metric), [x, 0.0])
                diff = x - s[0]
                if s[1] > 0 and diff * diff > 16 * s[1]:
                    self.alarms += 1
                s[0] += a * diff
                s[1] = (1 - a) * (s[1] + a * diff * diff)


def _client(client_id: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.username_pw_set(*ENGINE)
    return client


def _connect(client: paho.Client, url: str) -> None:
    host, port = url.rsplit("@", 1)[-1].split(":")
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    props.ReceiveMaximum = 20000  # as MqttIngest asks (its queue size)
    client.connect(host, int(port), clean_start=False, properties=props)


def _child(args: argparse.Namespace) -> None:
    if args.role == "bare":
        result = _bare(args.url, args.client_id, args.expect)
    else:
        result = _kizuki(args.url, args.client_id, args.expect, Path(args.workdir))
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


# --- orchestration -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Mosquitto with the shipped config on a free loopback port."""
    port, deploy = _free_port(), ROOT / "deploy" / "mosquitto"
    conf = (
        (deploy / "mosquitto.conf")
        .read_text()
        .replace("listener 1883", f"listener {port} 127.0.0.1")
    )
    conf = conf.replace("/mosquitto/config/", f"{workdir}/").replace(
        "/mosquitto/data/", f"{workdir}/"
    )
    conf = conf.replace("persistence true", "persistence false")
    (workdir / "mosquitto.conf").write_text(conf + f"\nuser {getpass.getuser()}\n")
    for name in ("passwd", "acl"):
        shutil.copy(deploy / name, workdir / name)
    proc = subprocess.Popen(["mosquitto", "-c", str(workdir / "mosquitto.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    for _ in range(100):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    raise SystemExit("mosquitto did not start")


def make_session(url: str, client_id: str) -> None:
    client = _client(client_id)
    client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    client.on_subscribe = lambda c, *_: c.disconnect()
    _connect(client, url)
    client.loop_forever()


def backlog(port: int, n: int, devices: int) -> float:
    """Queue n readings from ``devices`` devices with parallel mosquitto_pub -l; seconds."""
    per = [n // devices + (1 if i < n % devices else 0) for i in range(devices)]

    def one(i: int) -> None:
        ts = time.time()
        lines = b"\n".join(
            orjson.dumps({"ts": ts + k / 1000, "metrics": {"temp_c": 20 + k % 7, "rpm": 1200.0,
                          "current_a": 5.1, "pressure_pa": 55.0 + k % 3}})
            for k in range(per[i])
        ) + b"\n"  # fmt: skip
        topic = f"devices/bench-{i:04d}/telemetry"
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-M",
                        "1000", "-u", PUBLISHER[0], "-P", PUBLISHER[1], "-t", topic, "-l"],
                       input=lines, check=True)  # fmt: skip

    start = time.time()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(devices)))
    return time.time() - start


def paced(port: int, n: int, devices: int, rate: float) -> None:
    """Publish n readings at ``rate``/s from a paho client, ts = publish time."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.username_pw_set(*PUBLISHER)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start, infos = time.time(), []
    for k in range(n):
        payload = orjson.dumps(
            {"ts": time.time(), "metrics": {"temp_c": 20.0 + k % 7, "rpm": 1200.0}}
        )
        infos.append(client.publish(f"devices/bench-{k % devices:04d}/telemetry", payload, qos=1))
        if k % 100 == 99:
            time.sleep(max(0.0, start + (k + 1) / rate - time.time()))
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def consume(role: str, url: str, client_id: str, expect: int, workdir: Path,
            during: object = None) -> dict:  # type: ignore[type-arg]  # fmt: skip
    argv = [sys.executable, __file__, "--role", role, "--url", url, "--client-id", client_id,
            "--expect", str(expect), "--workdir", str(workdir)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit(f"{role} consumer failed to start")
    if callable(during):
        during()
    out = proc.stdout.read()
    proc.wait()
    return json.loads(out.strip().splitlines()[-1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def run(n: int, devices: int, live_n: int, live_rate: float, repeat: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kizuki-bench-"))
    broker, port = start_broker(workdir)
    url = f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{port}"
    rows: dict[str, tuple[float, float, float, float]] = {}
    try:
        # Interleaved and repeated, best run kept: the machine may be shared and noisy.
        for attempt in range(repeat):
            for role in ("bare", "kizuki"):
                row = one_round(role, f"bench-{role}-{os.getpid()}-{attempt}", url, port,
                                workdir, n, devices, live_n, live_rate)  # fmt: skip
                if role not in rows or row[0] > rows[role][0]:
                    rows[role] = row
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    report(rows, n, devices, live_n, live_rate)


def one_round(role: str, cid: str, url: str, port: int, workdir: Path, n: int, devices: int,
              live_n: int, live_rate: float) -> tuple[float, float, float, float]:  # fmt: skip
    """(readings/s draining a backlog of n, p50 and p99 live lag in ms, peak RSS in MB)."""
    make_session(url, cid)
    backlog(port, n, devices)
    drained = consume(role, url, cid, n, workdir)
    make_session(url, cid + "-live")  # subscribed before the paced publisher starts
    live = consume(role, url, cid + "-live", live_n, workdir,
                   lambda: paced(port, live_n, devices, live_rate))  # fmt: skip
    rss = max(drained["max_rss_mb"], live["max_rss_mb"])
    return n / drained["seconds"], pct(live["lags"], 0.5), pct(live["lags"], 0.99), rss


def report(rows: dict, n: int, devices: int, live_n: int, live_rate: float) -> None:  # type: ignore[type-arg]
    ceiling = rows["bare"][0]
    print(f"\n{n} readings (4 metrics each) from {devices} devices, QoS 1, private Mosquitto")
    print(f"lag measured live: {live_n} readings published at {live_rate:.0f}/s")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    head = f"{'readings/s':>12}{'p50 lag':>10}{'p99 lag':>10}{'peak RSS':>10}{'ratio':>7}"
    print(f"{'consumer':<44}{head}")
    names = {"bare": "bare paho QoS 1, does nothing (ceiling)",
             "kizuki": "MqttIngest -> SQLite, ack-after-commit, EWMA"}  # fmt: skip
    for role, (rate, p50, p99, rss) in rows.items():
        cells = f"{rate:>12,.0f}{p50:>8.1f}ms{p99:>8.1f}ms{rss:>8.0f}MB{rate / ceiling:>7.2f}"
        print(f"{names[role]:<44}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--live-readings", type=int, default=10_000)
    parser.add_argument("--live-rate", type=float, default=5_000)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; best kept")
    parser.add_argument("--role", choices=["bare", "kizuki"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        _child(args)
    else:
        run(args.readings, args.devices, args.live_readings, args.live_rate, args.repeat)


if __name__ == "__main__":
    main()
