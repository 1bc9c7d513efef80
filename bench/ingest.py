"""Ingest benchmark: Kizuki's MqttIngest against a bare paho subscriber, same broker, same load.

    python bench/ingest.py --readings 100000            # or: kizuki bench ingest -- ...

Starts a private Mosquitto (the shipped deploy/mosquitto config on a free loopback port),
then for each consumer, side by side:

* ``bare``: paho QoS 1 subscriber that does nothing, the client ceiling;
* ``kizuki``: what the engine runs (``kizuki/engine.py``): MqttIngest validating against
  the device profiles, ack-after-commit to SQLite, the real ``anomaly.bank.DetectorBank``
  as sink with every bench device registered (aircon-x1), so every reading is scored;
* ``thread``: the same as ``kizuki`` with ``ingest.receiver = "thread"``: paho's loop on
  a thread of the consumer's process instead of the child process the engine uses, to
  show what the child buys;
* ``ewma``: the same MqttIngest with a bench-local EWMA z-score as sink instead, to show
  what detection costs.

For each:

* backlog: N readings from many devices are queued in the consumer's persistent session
  (``--backlog-order time``, default: in time order across the fleet, as readings pile up
  while an engine is away; ``device``: each device's history in one piece, from parallel
  ``mosquitto_pub -l``), then the consumer drains them; readings/s
  is N over the time from connecting to the last reading received (bare) or committed
  and acked (kizuki);
* live: the consumer is connected while a paced paho publisher sends readings whose
  ``ts`` is the publish time; lag is commit (or receive) time minus ``ts``.

Each consumer runs in its own process, so peak memory (max RSS) is its own (for
``kizuki`` and ``ewma``, plus their receiver child's; CPU time too). The Kizuki
rows also split the drain's wall time into the store commit and the sink (detection);
the rest is MQTT receive, decoding and acks. ``--profile`` writes a cProfile of the
``kizuki`` drain to ``bench-ingest.prof``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import paho.mqtt.client as paho  # noqa: E402

from bench._mqtt_load import (  # noqa: E402
    ENGINE,
    TOPIC,
    backlog,
    connect,
    engine_client,
    make_session,
    paced,
    start_broker,
)

MODEL = "aircon-x1"
ROLES = ("bare", "kizuki", "thread", "ewma")
BANK_ROLES = ("kizuki", "thread")  # the real DetectorBank as sink


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

    client = engine_client(client_id)
    client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    client.on_message = on_message
    start, cpu = time.time(), _cpu()
    connect(client, url)
    client.loop_start()
    print("ready", flush=True)
    if not done.wait(120):
        raise SystemExit(f"bare consumer got {len(got)} of {expect} readings in 120 s")
    end, cpu = got[-1][0], _cpu() - cpu
    client.disconnect()
    client.loop_stop()
    lags = [t - orjson.loads(p)["ts"] for t, p in got]
    return {"n": len(got), "seconds": end - start, "lags": lags, "cpu_s": cpu}


def _kizuki(
    url: str, client_id: str, expect: int, workdir: Path, role: str, profile: bool
) -> dict[str, object]:
    """MqttIngest committing to SQLite; sink = DetectorBank (kizuki) or a bare EWMA (ewma)."""
    from anomaly.bank import DetectorBank
    from core.metrics import WRITE_LATENCY
    from core.profiles import load_profiles
    from ingest.deadletters import SqliteDeadLetters
    from ingest.embedded_store import SqliteStore
    from ingest.mqtt import MqttIngest
    from ingest.settings import IngestConfig
    from kizuki.config import Settings

    lags: list[float] = []
    if role in BANK_ROLES:
        from anomaly.block import warm_up

        warm_up()  # as the engine does before it subscribes: no batch waits for numba
    profiles = load_profiles()
    directory = lambda device: MODEL if device.startswith("bench-") else None  # noqa: E731
    bank = DetectorBank(profiles, directory)
    detect = bank.update if role in BANK_ROLES else EwmaDetector().update
    spent = [0.0]

    def sink(batch: list) -> None:  # type: ignore[type-arg]
        now = time.time()
        start = time.perf_counter()
        detect(batch)
        spent[0] += time.perf_counter() - start
        lags.extend(now - r.ts for r in batch)

    settings = Settings(
        mqtt={"url": url, "client_id": client_id, "session_expiry_s": 600},
        store={"batch_size": 5000},
        ingest={"receiver": "thread" if role == "thread" else "process"},
    )
    store = SqliteStore(workdir / f"{client_id}.db")
    letters = SqliteDeadLetters(workdir / f"{client_id}-dead.db")
    config = IngestConfig.of(settings)
    ingest = MqttIngest(config, store, letters, directory, sink, profiles=profiles)
    if profile:
        _profile_writer(ingest, "bench-ingest.prof")
    start, cpu = time.time(), _cpu()
    ingest.start()
    # The receiver child (ingest.receiver = "process") takes ~0.3 s to start before it
    # connects, once per engine start: the drain is timed from its connect, as bare's is.
    start = getattr(ingest.receiver, "connecting_at", None) or start
    child = ingest.receiver_pid()
    child_cpu = _proc_cpu(child)
    print("ready", flush=True)
    deadline = time.time() + 300
    while ingest.stats()["acked"] < expect:
        if time.time() > deadline:
            raise SystemExit(f"{role} consumer acked {ingest.stats()['acked']} of {expect}")
        time.sleep(0.01)
    end, cpu = time.time(), _cpu() - cpu + _proc_cpu(child) - child_cpu
    child_rss = _peak_rss_mb(child) if child else 0.0
    ingest.stop()
    store.close()
    stats = ingest.stats()
    if stats["dead_letters"]:
        raise SystemExit(f"{role} consumer dead-lettered {stats['dead_letters']} readings")
    if role in BANK_ROLES and bank.device_count() == 0:
        raise SystemExit("kizuki consumer: the DetectorBank scored no device")
    write_s = sum(s.value for s in WRITE_LATENCY.collect()[0].samples if s.name.endswith("_sum"))
    return {
        "n": stats["readings"],
        "seconds": end - start,
        "lags": lags,
        "sink_s": spent[0],
        "write_s": write_s,
        "cpu_s": cpu,
        "child_rss_mb": child_rss,
    }


def _cpu() -> float:
    """CPU seconds this process has used (all threads): robust to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds process ``pid`` has used (0 for None): the MQTT receiver child."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of this process or ``pid``. Not ``ru_maxrss``: Linux
    carries that over from the parent across exec, so a big parent would show in every
    consumer."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _profile_writer(ingest: Any, path: str) -> None:
    """cProfile the writer thread (decode, commit, sink, acks) into ``path``."""
    import cProfile

    profiler, run = cProfile.Profile(), ingest._run

    def profiled() -> None:
        profiler.enable()
        try:
            run()
        finally:
            profiler.disable()
            profiler.dump_stats(path)

    ingest._run = profiled


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


def _child(args: argparse.Namespace) -> None:
    if args.role == "bare":
        result = _bare(args.url, args.client_id, args.expect)
    else:
        result = _kizuki(
            args.url, args.client_id, args.expect, Path(args.workdir), args.role, args.profile
        )
    result["max_rss_mb"] = _peak_rss_mb() + float(result.pop("child_rss_mb", 0.0))
    print(json.dumps(result), flush=True)


# --- orchestration -------------------------------------------------------------------------


def consume(
    role: str,
    url: str,
    client_id: str,
    expect: int,
    workdir: Path,
    during: object = None,
    profile: bool = False,
) -> dict:  # type: ignore[type-arg]
    argv = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--url",
        url,
        "--client-id",
        client_id,
        "--expect",
        str(expect),
        "--workdir",
        str(workdir),
    ]
    if profile:
        argv.append("--profile")
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


Row = dict[str, float]


def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="kizuki-bench-"))
    broker, port = start_broker(workdir)
    url = f"mqtt://{ENGINE[0]}:{ENGINE[1]}@127.0.0.1:{port}"
    rounds: list[dict[str, Row]] = []
    try:
        # Interleaved and repeated: the machine may be shared and noisy; the range is shown.
        for attempt in range(args.repeat):
            rounds.append(
                {
                    role: one_round(
                        role,
                        f"bench-{role}-{os.getpid()}-{attempt}",
                        url,
                        port,
                        workdir,
                        args,
                        profile=args.profile and attempt == 0,
                    )
                    for role in args.consumers
                }
            )
    finally:
        broker.terminate()
        broker.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    report(rounds, args)


def one_round(
    role: str, cid: str, url: str, port: int, workdir: Path, args: argparse.Namespace, profile: bool
) -> Row:
    """Readings/s draining a backlog, where the time went, live lag (ms), peak RSS (MB)."""
    n, devices = args.readings, args.devices
    make_session(url, cid)
    backlog(port, n, devices, args.backlog_order)
    drained = consume(role, url, cid, n, workdir, profile=profile and role == "kizuki")
    make_session(url, cid + "-live")  # subscribed before the paced publisher starts
    live = consume(
        role,
        url,
        cid + "-live",
        args.live_readings,
        workdir,
        lambda: paced(port, args.live_readings, devices, args.live_rate),
    )
    seconds = drained["seconds"]
    return {
        "rate": n / seconds,
        "p50": pct(live["lags"], 0.5),
        "p99": pct(live["lags"], 0.99),
        "rss": max(drained["max_rss_mb"], live["max_rss_mb"]),
        "sink": drained.get("sink_s", 0.0) / seconds,
        "write": drained.get("write_s", 0.0) / seconds,
        "cpu_us": drained["cpu_s"] / n * 1e6,
    }


NAMES = {
    "bare": "bare paho QoS 1, does nothing (ceiling)",
    "kizuki": "MqttIngest -> SQLite + DetectorBank",
    "thread": "  same, paho on a thread (no child)",
    "ewma": "MqttIngest -> SQLite + bench EWMA",
}


def report(rounds: list[dict[str, Row]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.readings} readings (4 metrics each) from {args.devices} devices, QoS 1, "
        f"ack-after-commit, private Mosquitto, backlog in {args.backlog_order} order; "
        f"{len(rounds)} round(s), min-max shown"
    )
    print(
        f"lag measured live: {args.live_readings} readings published at "
        f"{args.live_rate:.0f}/s; load average now {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs\n"
    )
    head = "readings/s".rjust(15) + "ratio".rjust(11) + "CPU us/rd".rjust(11)
    head += "CPU ratio".rjust(11) + "p50 ms".rjust(10) + "p99 ms".rjust(10)
    print(f"{'consumer':<40}{head}{'RSS MB':>8}{'commit':>8}{'detect':>8}")
    for role in args.consumers:
        rows = [r[role] for r in rounds]
        ratios = [r[role]["rate"] / r["bare"]["rate"] for r in rounds if "bare" in r]
        cpu = [r["bare"]["cpu_us"] / r[role]["cpu_us"] for r in rounds if "bare" in r]
        cells = (
            _span([r["rate"] for r in rows], "{:,.0f}", 15)
            + _span(ratios, "{:.2f}", 11)
            + _span([r["cpu_us"] for r in rows], "{:.0f}", 11)
            + _span(cpu, "{:.2f}", 11)
            + _span([r["p50"] for r in rows], "{:.0f}", 10)
            + _span([r["p99"] for r in rows], "{:.0f}", 10)
        )
        share = (
            ""
            if role == "bare"
            else (f"{max(r['write'] for r in rows):>7.0%}{max(r['sink'] for r in rows):>8.0%}")
        )
        print(f"{NAMES[role]:<40}{cells}{max(r['rss'] for r in rows):>8.0f}{share}")
    print(
        "\nratio: readings/s over the same round's bare ceiling. CPU us/rd: the consumer's CPU "
        "time per\nreading while draining (all threads), which a busy machine disturbs far "
        "less than wall\ntime; CPU ratio = bare CPU / this CPU. commit/detect: share of the "
        "drain's wall time in\nthe store commit and in the sink (detection); the rest is "
        "MQTT receive, decoding and acks."
    )


def _span(values: list[float], fmt: str, width: int) -> str:
    if not values:
        return "-".rjust(width)
    lo, hi = min(values), max(values)
    text = (
        fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"
    )
    return text.rjust(width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=50_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--live-readings", type=int, default=10_000)
    parser.add_argument("--live-rate", type=float, default=5_000)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds")
    parser.add_argument(
        "--backlog-order",
        choices=("time", "device"),
        default="time",
        help="time: the fleet's readings in time order (a backlog after an outage); "
        "device: each device's history in one piece (a replay; the detectors then see "
        "few devices per batch and pay numpy's per-call cost more often)",
    )
    parser.add_argument(
        "--consumers",
        type=lambda t: t.split(","),
        default=list(ROLES),
        help="comma-separated, of: " + ",".join(ROLES),
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the first kizuki drain's writer thread -> bench-ingest.prof",
    )
    parser.add_argument("--role", choices=ROLES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        _child(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
