"""Per-reading throughput of the detectors and the DetectorBank, next to a bare EWMA loop.

The scalar detectors (one stream, one value per call) are the readable reference; the
bank runs the same arithmetic compiled (numba) over all the values of a batch; what is
left in Python is grouping the batch by (model, metric), so small batches pay a fixed
cost per call and large ones run at the kernel's speed.

Run: ``kizuki bench detectors`` or ``python bench/detectors.py [--values N] [--devices D]``.
Everything runs in this one process on the same synthetic data, so the numbers compare.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

# bench/ingest.py would shadow the ingest package; keep this folder off the import path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from anomaly.bank import DetectorBank  # noqa: E402
from anomaly.cusum import Cusum  # noqa: E402
from anomaly.postprocess import Alarm  # noqa: E402
from anomaly.seasonal import SeasonalBaseline  # noqa: E402
from anomaly.stream import MetricStream, StreamConfig  # noqa: E402
from anomaly.trend import Trend  # noqa: E402
from core.profiles import load_profiles  # noqa: E402
from ingest.base import Reading  # noqa: E402

T0 = 1_767_225_600.0


def series(n: int) -> list[tuple[float, float]]:
    rng = random.Random(0)
    return [(T0 + 600.0 * i, 10 + math.sin(i / 22.9) + rng.gauss(0, 0.2)) for i in range(n)]


def rate(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - start)


def bare_ewma(data: list[tuple[float, float]]) -> int:
    m = 0.0
    for _, x in data:
        m += 0.01 * (x - m)
    return len(data)


class _Ewma:
    __slots__ = ("m",)

    def __init__(self) -> None:
        self.m = 0.0

    def update(self, ts: float, x: float) -> float:
        self.m += 0.01 * (x - self.m)
        return self.m


def method_loop(make: Callable[[], object], data: list[tuple[float, float]]) -> int:
    update = make().update  # type: ignore[attr-defined]
    for ts, x in data:
        update(ts, x)
    return len(data)


def alarm_loop(data: list[tuple[float, float]]) -> int:
    step = Alarm().step
    for ts, x in data:
        step(ts, x - 10.0)
    return len(data)


def bank_readings(devices: int, ticks: int) -> list[list[Reading]]:
    profiles = load_profiles()
    ac = profiles["aircon-x1"]
    rng = random.Random(1)
    mids = {m: (sum(s.normal) / 2, s.noise) for m, s in ac.metrics.items()}
    return [
        [
            Reading(
                f"ac-{d}",
                T0 + 600.0 * k,
                {m: mid + rng.gauss(0, sd) for m, (mid, sd) in mids.items()},
            )
            for d in range(devices)
        ]
        for k in range(ticks)
    ]


def bank_rate(devices: int, ticks: int) -> tuple[float, float]:
    batches = bank_readings(devices, ticks)
    directory = {f"ac-{d}": "aircon-x1" for d in range(devices)}.get
    bank = DetectorBank(load_profiles(), directory)
    n_readings = sum(len(b) for b in batches)
    start = time.perf_counter()
    for batch in batches:
        bank.update(batch)
    spent = time.perf_counter() - start
    return n_readings / spent, n_readings * 4 / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=300_000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--days", type=float, default=4.0)
    args = parser.parse_args()
    from anomaly.block import warm_up

    warm_up()  # compile (or load) the kernel outside the timed rows, as the engine does
    data = series(args.values)
    spec = load_profiles()["aircon-x1"].metrics["filter_dp_pa"]
    rows = [
        ("baseline: bare EWMA loop (inline)", rate(lambda: bare_ewma(data))),
        ("baseline: EWMA object, one call/value", rate(lambda: method_loop(_Ewma, data))),
        ("SeasonalBaseline.update", rate(lambda: method_loop(SeasonalBaseline, data))),
        ("Cusum.update", rate(lambda: method_loop(Cusum, data))),
        ("Trend.update", rate(lambda: method_loop(Trend, data))),
        ("Alarm.step", rate(lambda: alarm_loop(data))),
        (
            "MetricStream.update (all of the above)",
            rate(lambda: method_loop(lambda: MetricStream(spec, StreamConfig()), data)),
        ),
    ]
    print(f"{'per-value path (one stream)':45}{'values/s':>14}")
    for name, r in rows:
        print(f"{name:45}{r:>14,.0f}")
    print("\nDetectorBank.update (compiled kernel; 4 metrics per reading):")
    print(f"{'  batch (readings per update call)':45}{'readings/s':>14}{'values/s':>14}")
    ticks = int(args.days * 144)
    for devices, n_ticks in (
        (1, ticks * 4),
        (20, ticks),
        (args.devices, ticks),
        (10 * args.devices, max(ticks // 4, 144)),
    ):
        per_reading, per_value = bank_rate(devices, n_ticks)
        print(f"{'  ' + str(devices):45}{per_reading:>14,.0f}{per_value:>14,.0f}")


if __name__ == "__main__":
    main()
