"""API answers while the telemetry store stalls, beside the old shared-connection read.

A writer holds telemetry.db (``BEGIN IMMEDIATE`` on another connection) while a write
waits for it; meanwhile reads ask for a device's latest values, the way the device page
and /readyz do. "shared" is the old path (reads through the writer's connection and lock,
which the waiting write holds), "own" the store's read connections. Prints the time each
read took (the shared read is given up after --wait seconds).

Run: ``kizuki bench stall`` or ``python bench/stall.py [--reads N] [--wait S]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from core.readings import Reading  # noqa: E402
from ingest.embedded_store import SqliteStore  # noqa: E402


def _shared_read(store: SqliteStore, device: str, wait_s: float) -> float:
    start = time.perf_counter()
    if store._lock.acquire(timeout=wait_s):  # noqa: SLF001 - the old read path
        store._lock.release()  # noqa: SLF001
    return time.perf_counter() - start


def _own_read(store: SqliteStore, device: str) -> float:
    start = time.perf_counter()
    store.latest(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--wait", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "t.db")
        now = time.time()
        store.write([Reading(f"d{i}", now, {"t": 1.0, "p": 2.0}) for i in range(1000)])
        locker = sqlite3.connect(Path(tmp) / "t.db", isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        writer = threading.Thread(
            target=lambda: store.write([Reading("d1", now + 1, {"t": 2.0})]), daemon=True
        )
        writer.start()
        time.sleep(0.2)  # the write now waits for the lock, holding the store's own
        own = [_own_read(store, f"d{i % 1000}") for i in range(args.reads)]
        shared = _shared_read(store, "d1", args.wait)
        locker.execute("ROLLBACK")
        writer.join()
        store.close()
    print(f"store stalled; latest() of one device, {args.reads} reads:")
    print(
        f"  own read connection : median {statistics.median(own) * 1000:.2f} ms, "
        f"max {max(own) * 1000:.2f} ms"
    )
    print(
        f"  shared (old)        : {shared:.2f} s (gave up after {args.wait:.0f} s; the "
        "write would have held it for its 30 s busy timeout)"
    )


if __name__ == "__main__":
    main()
