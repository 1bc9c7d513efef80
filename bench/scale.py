"""Scale-out benchmark: the single-broker path and the partitioned path, side by side.

    python bench/scale.py --readings 20000        # or: kizuki bench scale -- ...

Starts a private Mosquitto (the shipped config) and a private 3-node NATS JetStream
cluster with MQTT listeners (``tests/scale/cluster.py``, 8 partitions, R3 stream) on
free loopback ports, then for each row:

* ``mqtt x1``: the default path: one worker (``MqttIngest`` with its MQTT receiver
  child, SQLite, one ``DetectorBank``) on Mosquitto;
* ``nats x1``: one worker owning all 8 partitions, pulling them from JetStream;
* ``nats x2``: two workers owning 0-3 and 4-7 (on this machine: sharing its cores);
* ``bridge x1``: the backlog queued in Mosquitto for ``kizuki bridge`` (the real CLI,
  its own process), which carries it into the emptied stream, each message acked to
  Mosquitto only after the stream's publish ack; its rate is n over the time from
  "bridge ready" (subscribed) to the n-th message in the stream, its CPU that of the
  bridge and its receiver child over the same span. Then one worker drains the stream,
  and the live readings go devices -> Mosquitto -> bridge -> stream -> worker.

Each row: a backlog of N readings (``--devices`` devices, in time order, aircon-x1
with profile noise) is queued first (Mosquitto: the worker's persistent session; NATS:
the stream, through acked JetStream publishes, its 8 durable consumers made as a
deployment has them); the workers, started together once ready, drain it. readings/s is
N over the wall time from their start to the last commit; CPU per reading is the
workers' CPU time (MQTT receiver child included) over N. Then ``--live`` readings are
published over MQTT at ``--live-rate``/s by one device gateway (MQTT 5 to Mosquitto,
3.1.1 to a NATS node's MQTT listener, which speaks no other) with ``ts`` = publish
time (through the bridge: MQTT 5 to Mosquitto); lag is when the detectors had the
reading minus ``ts``.

Last, MQTT QoS 1 intake: 1 and 8 gateways publishing ``--live`` messages flat out to
each broker: what a broker acknowledges, before any worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench._mqtt_load import (  # noqa: E402
    ENGINE,
    PUBLISHER,
    backlog,
    engine_client,
    make_session,
    payload,
)
from bench._mqtt_load import start_broker as start_mosquitto  # noqa: E402
from core.partitions import partition_of  # noqa: E402
from tests.scale.cluster import Cluster  # noqa: E402

PARTITIONS = 8


def device(i: int) -> str:
    return f"bench-{i:04d}"


def spread(n: int, devices: int) -> list[int]:
    """Readings per device when n readings go round-robin over the devices."""
    return [n // devices + (1 if i < n % devices else 0) for i in range(devices)]


def share(per: list[int], owned: set[int]) -> int:
    return sum(c for i, c in enumerate(per) if partition_of(device(i), PARTITIONS) in owned)


# --- loads ---------------------------------------------------------------------------


async def _js_backlog(urls: list[str], per: list[int]) -> float:
    """(Re)create the stream and fill it in time order (JetStream publishes, acked);
    the stream's bytes per message (one replica's)."""
    import nats
    from nats.js.errors import NotFoundError

    from ingest.nats_source import consumer_config, stream_config
    from ingest.settings import NatsSettings

    nc = await nats.connect(servers=urls)
    js = nc.jetstream(timeout=30)
    with contextlib.suppress(NotFoundError):
        await js.delete_stream("KIZUKI")
    settings = NatsSettings(replicas=3)
    await js.add_stream(stream_config(settings))
    for p in range(PARTITIONS):  # as a deployment has them: made once, not per start
        await js.add_consumer(settings.stream, consumer_config(settings, p))
    rngs, now, pending = [random.Random(i) for i in range(len(per))], time.time(), []
    for k in range(max(per, default=0)):
        for i, count in enumerate(per):
            if k < count:
                body = payload(now - 60.0 * (count - k), rngs[i])
                pending.append(js.publish(f"devices.{device(i)}.telemetry", body))
        if len(pending) >= 500:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)
    state = (await js.stream_info(settings.stream)).state
    await nc.close()
    return state.bytes / max(1, state.messages)


def burst(host_port: tuple[str, int], n: int, devices: int, v5: bool, gateways: int) -> float:
    """Messages/s acknowledged when ``gateways`` clients publish n in all, flat out."""
    start = time.time()
    with ThreadPoolExecutor(gateways) as pool:
        list(pool.map(lambda _: live(host_port, n // gateways, devices, 1e9, v5), range(gateways)))
    return n // gateways * gateways / (time.time() - start)


def live(host_port: tuple[str, int], n: int, devices: int, rate: float, v5: bool) -> None:
    """n readings at ``rate``/s from one MQTT gateway, QoS 1, ts = publish time."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5 if v5 else paho.MQTTv311)
    if v5:
        client.username_pw_set(*PUBLISHER)
    client.max_inflight_messages_set(200)
    client.connect(*host_port)
    client.loop_start()
    start, infos, rng = time.time(), [], random.Random(0)
    for k in range(n):
        topic = f"devices/{device(k % devices)}/telemetry"
        infos.append(client.publish(topic, payload(time.time(), rng), qos=1))
        if k % 50 == 49:
            time.sleep(max(0.0, start + (k + 1) / rate - time.time()))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()


def warm_up(cluster: Cluster) -> None:
    """A first MQTT client makes NATS create its MQTT streams (seconds, once per cluster):
    not what a device sees later, so not in the first row's lag."""
    asyncio.run(_js_backlog(cluster.urls, [1]))
    live(("127.0.0.1", cluster.nodes[0].mqtt), 1, 1, 100.0, False)


async def _filled(urls: list[str], n: int) -> float:
    """When the stream holds n messages (asked every 20 ms)."""
    import nats

    nc = await nats.connect(servers=urls)
    js = nc.jetstream(timeout=30)
    try:
        while (await js.stream_info("KIZUKI")).state.messages < n:
            await asyncio.sleep(0.02)
        return time.time()
    finally:
        await nc.close()


def cpu_tree(pid: int) -> float:
    """CPU seconds of ``pid`` and its children (the bridge and its MQTT receiver)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for p in [pid, *map(int, kids)]:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def start_bridge(work: Path, url: str, urls: list[str]) -> tuple[Any, Path]:
    """``kizuki bridge`` (the CLI) on the session ``bench-bridge``; waits until ready."""
    data = work / "bridge"
    data.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "KIZUKI_DATA_DIR": str(data),
        "KIZUKI_MQTT__URL": url,
        "KIZUKI_MQTT__CLIENT_ID": "bench-bridge",
        "KIZUKI_MQTT__SESSION_EXPIRY_S": "600",
        "KIZUKI_NATS__URLS": json.dumps(urls),
        "KIZUKI_LOG_LEVEL": "INFO",
    }
    log = data / "log"
    argv = [sys.executable, "-c", "from kizuki.cli import main; main()", "bridge", "--of"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*argv, str(PARTITIONS)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=data
        )
    while "bridge ready" not in log.read_text():
        if process.poll() is not None:
            raise SystemExit(f"kizuki bridge exited:\n{log.read_text()[-2000:]}")
        time.sleep(0.05)
    return process, log


def drop_session(url: str, client_id: str) -> None:
    """End a persistent session (clean start, no expiry) so the broker queues no more."""
    client = engine_client(client_id)
    host, port = url.rsplit("@", 1)[-1].split(":")
    client.on_connect = lambda c, *_: c.disconnect()
    client.connect(host, int(port), clean_start=True)
    client.loop_forever()


def bridged(work: Path, url: str, port: int, urls: list[str], n: int, devices: int) -> Any:
    """The Mosquitto backlog carried into the emptied stream by the bridge: the bridge
    (still running, for the live load), its readings/s and CPU us per reading."""
    asyncio.run(_js_backlog(urls, []))
    make_session(url, "bench-bridge")
    backlog(port, n, devices)
    process, _ = start_bridge(work, url, urls)
    ready, cpu0 = time.time(), cpu_tree(process.pid)
    seconds = asyncio.run(_filled(urls, n)) - ready
    cpu = cpu_tree(process.pid) - cpu0
    return process, n / seconds, 1e6 * cpu / n


# --- workers -------------------------------------------------------------------------


def spawn(workdir: Path, name: str, expect: tuple[int, int], **opts: str) -> Any:
    argv = [
        sys.executable,
        str(Path(__file__)),
        "--role",
        "worker",
        "--name",
        name,
        "--workdir",
        str(workdir),
        "--backlog",
        str(expect[0]),
        "--live",
        str(expect[1]),
    ]
    for key, value in opts.items():
        argv += [f"--{key}", value]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, cwd=ROOT
    )


def read(process: Any, key: str) -> Any:
    for line in process.stdout:
        if line.startswith("{"):
            got = json.loads(line)
            if key in got:
                return got[key]
    raise SystemExit(f"a worker exited ({process.wait()}) before saying {key!r}")


def row(name: str, workers: list[Any], n: int, load: Any) -> dict[str, Any]:
    for w in workers:
        read(w, "ready")
    go = time.time()
    for w in workers:  # all at once
        w.stdin.write("go\n")
        w.stdin.flush()
    drained = [read(w, "drained") for w in workers]
    load()
    lags = sorted(lag for w in workers for lag in read(w, "live")["lags"])
    for w in workers:
        w.wait(60)
    seconds = max(d["end"] for d in drained) - max(go, min(d["start"] for d in drained))
    cpu = sum(d["cpu_s"] for d in drained)
    return {
        "path": name,
        "workers": len(workers),
        "readings": n,
        "per_s": n / seconds,
        "cpu_us": 1e6 * cpu / n,
        "p50_ms": 1e3 * statistics.median(lags),
        "p99_ms": 1e3 * lags[int(0.99 * (len(lags) - 1))],
    }


def run(args: argparse.Namespace) -> None:
    per, live_per = spread(args.readings, args.devices), spread(args.live, args.devices)
    rows, stored = [], 0.0
    with tempfile.TemporaryDirectory(prefix="kizuki-scale-") as tmp:
        work = Path(tmp)
        mosquitto, port = start_mosquitto(work)
        cluster = Cluster(work / "nats", partitions=PARTITIONS)
        try:
            cluster.start()
            intake = {
                f"{where}, {g} gateway(s)": burst(host_port, args.live, args.devices, v5, g)
                for where, host_port, v5 in (
                    ("Mosquitto", ("127.0.0.1", port), True),
                    ("NATS MQTT listener", ("127.0.0.1", cluster.nodes[0].mqtt), False),
                )
                for g in (1, 8)
            }
            url = f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{port}"
            make_session(url, "bench-scale")
            backlog(port, args.readings, args.devices)
            one = spawn(work, "bench-scale", (args.readings, args.live), path="mqtt", url=url)
            rows.append(
                row(
                    "mqtt (Mosquitto)",
                    [one],
                    args.readings,
                    lambda: live(
                        ("127.0.0.1", port), args.live, args.devices, args.live_rate, True
                    ),
                )
            )
            entry = ("127.0.0.1", cluster.nodes[0].mqtt)
            warm_up(cluster)
            for owners in ([set(range(8))], [set(range(4)), set(range(4, 8))]):
                stored = asyncio.run(_js_backlog(cluster.urls, per))
                workers = [
                    spawn(
                        work,
                        f"w{i}-{len(owners)}",
                        (share(per, o), share(live_per, o)),
                        path="nats",
                        nats=",".join(cluster.urls),
                        of=str(PARTITIONS),
                        partitions=",".join(map(str, sorted(o))),
                    )
                    for i, o in enumerate(owners)
                ]
                rows.append(
                    row(
                        "nats (JetStream R3)",
                        workers,
                        args.readings,
                        lambda: live(entry, args.live, args.devices, args.live_rate, False),
                    )
                )
            drop_session(url, "bench-scale")  # Mosquitto would queue for it too
            bridge, bridge_rate, bridge_cpu = bridged(
                work, url, port, cluster.urls, args.readings, args.devices
            )
            worker = spawn(
                work,
                "w-bridge",
                (args.readings, args.live),
                path="nats",
                nats=",".join(cluster.urls),
                of=str(PARTITIONS),
                partitions=",".join(map(str, range(PARTITIONS))),
            )
            rows.append(
                row(
                    "nats via bridge",
                    [worker],
                    args.readings,
                    lambda: live(
                        ("127.0.0.1", port), args.live, args.devices, args.live_rate, True
                    ),
                )
            )
            bridge.terminate()
            bridge.wait(30)
        finally:
            cluster.stop()
            mosquitto.terminate()
            mosquitto.wait(10)
    print_rows(rows, args)
    print(
        f"\nkizuki bridge, Mosquitto backlog into the stream: {bridge_rate:.0f} readings/s, "
        f"{bridge_cpu:.0f} us CPU per reading (bridge and its receiver child)"
    )
    print(f"\nJetStream stream: {stored:.0f} bytes per reading per replica (file store)")
    print("\nMQTT QoS 1 intake (gateways publishing flat out, 200 in flight each), msgs/s:")
    for where, per_s in intake.items():
        print(f"  {where:<36}{per_s:>8.0f}")


def print_rows(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.readings} readings from {args.devices} devices (backlog), then "
        f"{args.live} live at {args.live_rate:.0f}/s; {PARTITIONS} partitions"
    )
    print(
        f"{'path':<22}{'workers':>8}{'readings/s':>12}{'CPU us/rdg':>12}"
        f"{'lag p50 ms':>12}{'lag p99 ms':>12}"
    )
    for r in rows:
        print(
            f"{r['path']:<22}{r['workers']:>8}{r['per_s']:>12.0f}{r['cpu_us']:>12.0f}"
            f"{r['p50_ms']:>12.1f}{r['p99_ms']:>12.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20_000, help="backlog to drain")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--live", type=int, default=3_000, help="live readings (lag)")
    parser.add_argument("--live-rate", type=float, default=300.0, help="live readings/s")
    parser.add_argument("--role", choices=("worker",), help=argparse.SUPPRESS)
    for hidden in ("name", "workdir", "backlog", "path", "url", "nats", "of", "partitions"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        from bench._scale_worker import run as work

        args.backlog, args.live, args.of = int(args.backlog), int(args.live), int(args.of or 0)
        work(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
