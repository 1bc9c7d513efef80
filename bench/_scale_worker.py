"""One consumer of ``bench/scale.py``, in its own process: drains a backlog, then live load.

Runs what a worker runs: ``MqttIngest`` committing to SQLite (ack after commit) with the
detectors as sink: the single-broker path (``--path mqtt``: the MQTT receiver child, one
``DetectorBank``) or the partitioned path (``--path nats``: ``NatsReceiver`` on the owned
partitions, one bank per partition). Prints two JSON lines on stdout: ``drained`` once
``--backlog`` readings are committed (their wall time and CPU time), ``live`` once
``--live`` more are (their lag: sink time minus the reading's ts, which the publisher set
to the publish time).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

MODEL = "aircon-x1"


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process (all threads) and of ``pids`` (receiver children)."""
    total = 0.0
    for pid in ["self", *pids]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def build(args: Any, sink: Any, workdir: Path) -> Any:
    from anomaly.bank import DetectorBank
    from core.profiles import load_profiles
    from ingest.deadletters import SqliteDeadLetters
    from ingest.embedded_store import SqliteStore
    from ingest.mqtt import MqttIngest
    from ingest.nats_source import NatsReceiver
    from ingest.settings import IngestConfig, NatsSettings
    from ingest.topics import PartitionSubjectParser
    from kizuki.config import Settings
    from kizuki.partitioned_bank import PartitionedBank

    profiles = load_profiles()
    directory = lambda _device: MODEL  # noqa: E731
    settings = Settings(
        mqtt={"url": args.url, "client_id": args.name, "session_expiry_s": 600},
        store={"batch_size": 5000},
    )
    store = SqliteStore(workdir / f"{args.name}.db")
    letters = SqliteDeadLetters(workdir / f"{args.name}-dead.db")
    config = IngestConfig.of(settings)
    if args.path == "mqtt":
        bank: Any = DetectorBank(profiles, directory)
        ingest = MqttIngest(config, store, letters, directory, sink(bank), profiles=profiles)
        return ingest, bank
    owned = frozenset(int(p) for p in args.partitions.split(","))
    bank = PartitionedBank(
        {p: DetectorBank(profiles, directory) for p in owned}, args.of, workdir / "ckpt"
    )
    nats = NatsSettings(urls=args.nats.split(","), replicas=3)
    receiver = NatsReceiver(nats, owned, name=args.name)
    topics = PartitionSubjectParser("part", args.of, owned)
    ingest = MqttIngest(
        config,
        store,
        letters,
        directory,
        sink(bank),
        profiles=profiles,
        receiver=receiver,
        topics=topics,
    )
    return ingest, bank


def run(args: Any) -> None:
    from anomaly.block import warm_up

    warm_up()
    seen: list[tuple[float, float]] = []  # (ts, lag)

    def sink(bank: Any) -> Any:
        def detect(batch: list[Any]) -> None:
            bank.update(batch)
            now = time.time()
            seen.extend((r.ts, now - r.ts) for r in batch)

        return detect

    ingest, bank = build(args, sink, Path(args.workdir))
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # every worker starts at once, on the bench's word
    start = time.time()
    ingest.start()
    # the MQTT receiver child connects once started (~0.3 s to start python): timed from
    # its connect, as bench/ingest.py does
    start = getattr(ingest.receiver, "connecting_at", None) or start
    pids = [pid] if (pid := ingest.receiver_pid()) else []
    cpu = cpu_seconds(pids)  # the receiver child's start-up is not per reading
    _wait(ingest, args.backlog)
    end = time.time()
    drained = {
        "n": ingest.stats()["readings"],
        "start": start,
        "end": end,
        "cpu_s": cpu_seconds(pids) - cpu,
        "devices": bank.device_count(),
    }
    print(json.dumps({"drained": drained}), flush=True)
    _wait(ingest, args.backlog + args.live)
    time.sleep(0.2)  # the last batch's sink
    lags = [lag for ts, lag in seen if ts >= end - 1.0]  # published after the drain
    print(json.dumps({"live": {"lags": lags}}), flush=True)
    ingest.stop()


def _wait(ingest: Any, n: int) -> None:
    deadline = time.time() + 300
    while ingest.stats()["readings"] < n:
        if time.time() > deadline:
            raise SystemExit(f"committed {ingest.stats()['readings']} of {n} readings in 300 s")
        time.sleep(0.01)
