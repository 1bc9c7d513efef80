"""How fast the simulator generates readings, next to bare numpy and bare Python.

    .venv/bin/python bench/simulator.py                 # 10,000 devices x 30 days
    .venv/bin/python bench/simulator.py --devices 2000 --days 5 --mqtt mqtt://127.0.0.1:1883

Rows:
- ``Fleet(...)``: building the fleet (devices, customers, failure plans, ground truth);
- ``frames()``: per-model numpy arrays per tick (noise, failures, dropouts): the fast path;
- ``numpy draw``: the baseline, one ``standard_normal`` of the same shape per tick;
- ``ticks()``: the same data as ``Reading`` objects (on a slice of the days);
- ``Reading()``: the baseline, building the same number of Readings from constants;
- ``publish()``: readings/s over MQTT to a broker (only with ``--mqtt``): QoS 1 with one
  and six readings per message, QoS 2 with one; the status messages count in msg/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This file is named like the package it measures; keep its folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402

from ingest.base import Reading  # noqa: E402
from simulator.fleet import Fleet  # noqa: E402

START = 1_767_225_600.0


def timed(label: str, count: int, work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    took = time.perf_counter() - began
    print(f"{label:<34} {count:>13,} {took:>9.2f} s {count / took:>14,.0f} /s")
    return took


def drain_frames(fleet: Fleet) -> int:
    return sum(int(f.present.sum()) for _, frames in fleet.frames() for f in frames)


def numpy_baseline(fleet: Fleet) -> None:
    rng = np.random.default_rng(0)
    for _ in range(fleet.n_ticks):
        rng.standard_normal((len(fleet.devices), 4))


def drain_ticks(fleet: Fleet) -> None:
    for _ts, _readings in fleet.ticks():
        pass


def reading_baseline(fleet: Fleet) -> None:
    """One list of Readings per tick, from constant values (nothing simulated)."""
    metrics = ("a", "b", "c", "d")
    values = [1.0, 2.0, 3.0, 4.0]
    ids = [d.device_id for d in fleet.devices]
    for k in range(fleet.n_ticks):
        [Reading(i, float(k), dict(zip(metrics, values, strict=True))) for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--reading-days", type=float, default=3.0, help="days for ticks()")
    parser.add_argument("--mqtt", default=None, help="also publish (QoS 1) to this broker")
    args = parser.parse_args()

    n, days = args.devices, args.days
    print(f"{n:,} devices x {days:g} days at 10-minute steps\n")
    print(f"{'what':<34} {'readings':>13} {'time':>11} {'rate':>16}")
    holder: list[Fleet] = []
    timed("Fleet(...) build", n, lambda: holder.append(Fleet(n, 42, 0.05, START, days)))
    fleet = holder[0]
    total = fleet.readings_count
    timed("frames() arrays", total, lambda: drain_frames(fleet))
    timed("baseline: numpy draw per tick", total, lambda: numpy_baseline(fleet))
    part = Fleet(n, 42, 0.05, START, args.reading_days)
    count = part.readings_count
    timed(f"ticks() Readings ({args.reading_days:g} d)", count, lambda: drain_ticks(part))
    timed("baseline: Reading() from constants", count, lambda: reading_baseline(part))
    if args.mqtt:
        bench_publish(args.mqtt, min(n, 2000))


def bench_publish(url: str, n: int) -> None:
    """Publishing rate: QoS 1 with one and six readings per message, QoS 2 with one
    (20 in flight over MQTT 3.1.1, Mosquitto's stock limit)."""
    from simulator.publisher import publish

    fleet = Fleet(n, 42, 0.05, START, 0.25)
    for qos, per_message in ((1, 1), (1, 6), (2, 1)):
        prefix = f"bench-{int(time.time())}/"
        stats = publish(fleet, url, qos=qos, topic_prefix=prefix, per_message=per_message)
        label = f"publish() QoS {qos}, {per_message}/message"
        rate = stats.readings / stats.seconds
        print(
            f"{label:<34} {stats.readings:>13,} {stats.seconds:>9.2f} s "
            f"{rate:>14,.0f} /s  ({stats.per_second:,.0f} msg/s)"
        )


if __name__ == "__main__":
    main()
