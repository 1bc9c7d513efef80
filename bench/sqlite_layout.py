"""SQLite telemetry layouts side by side: the figures quoted in ingest/embedded_store.py.

    python bench/sqlite_layout.py                      # or: kizuki bench sqlite_layout
    python bench/sqlite_layout.py --points 200000 --small 50

Each layout gets a fresh file (WAL, synchronous=FULL, INSERT OR REPLACE) and the same
readings: ``--series`` (device, metric) series, 4 metrics per reading, devices in turn,
time moving forward, committed ``--batch`` readings per transaction, then again at
``--small`` readings per transaction. The last rows run ``SqliteStore`` itself.
Figures are points/s (one point = one metric value); the machine may be shared, so run it
more than once.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from ingest.base import Reading  # noqa: E402
from ingest.embedded_store import SqliteStore  # noqa: E402

METRICS = ("temp", "rpm", "current", "pressure")
T0_MS = 1_767_225_600_000
Row = tuple[str, str, int, float]


@dataclass(frozen=True)
class Layout:
    name: str
    schema: tuple[str, ...]
    insert: str
    by_series: bool = False  # rows carry an integer series id instead of device, metric
    cache_mb: int = 0  # 0: SQLite's default page cache (2 MB)
    json: bool = False  # one INSERT ... SELECT FROM json_each(?) per transaction


LAYOUTS = (
    Layout(
        "rowid table + UNIQUE(device, metric, ts)",
        (
            "CREATE TABLE p (device TEXT, metric TEXT, ts INTEGER, value REAL, "
            "UNIQUE(device, metric, ts))",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?, ?)",
    ),
    Layout(
        "WITHOUT ROWID PK(device, metric, ts)",
        (
            "CREATE TABLE p (device TEXT, metric TEXT, ts INTEGER, value REAL, "
            "PRIMARY KEY(device, metric, ts)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?, ?)",
    ),
    Layout(
        "  same, 64 MB page cache",
        (
            "CREATE TABLE p (device TEXT, metric TEXT, ts INTEGER, value REAL, "
            "PRIMARY KEY(device, metric, ts)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?, ?)",
        cache_mb=64,
    ),
    Layout(
        "WITHOUT ROWID PK(series, ts)",
        (
            "CREATE TABLE p (series INTEGER, ts INTEGER, value REAL, "
            "PRIMARY KEY(series, ts)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?)",
        by_series=True,
    ),
    Layout(
        "  same, 64 MB page cache (SqliteStore's)",
        (
            "CREATE TABLE p (series INTEGER, ts INTEGER, value REAL, "
            "PRIMARY KEY(series, ts)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?)",
        by_series=True,
        cache_mb=64,
    ),
    Layout(
        "  same, one json_each insert per transaction",
        (
            "CREATE TABLE p (series INTEGER, ts INTEGER, value REAL, "
            "PRIMARY KEY(series, ts)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p SELECT json_extract(value, '$[0]'), "
        "json_extract(value, '$[1]'), json_extract(value, '$[2]') FROM json_each(?)",
        by_series=True,
        cache_mb=64,
        json=True,
    ),
    Layout(
        "WITHOUT ROWID PK(ts, device, metric)",
        (
            "CREATE TABLE p (device TEXT, metric TEXT, ts INTEGER, value REAL, "
            "PRIMARY KEY(ts, device, metric)) WITHOUT ROWID",
        ),
        "INSERT OR REPLACE INTO p VALUES (?, ?, ?, ?)",
    ),
    Layout(
        "rowid table, no key (not idempotent)",
        ("CREATE TABLE p (device TEXT, metric TEXT, ts INTEGER, value REAL)",),
        "INSERT INTO p VALUES (?, ?, ?, ?)",
    ),
)


def points(n_points: int, n_series: int) -> list[Row]:
    """(device, metric, ts_ms, value): devices in turn, 4 metrics each, time forward."""
    devices = max(1, n_series // len(METRICS))
    rows: list[Row] = []
    for k in range(n_points // len(METRICS)):
        device, tick = f"dev-{k % devices:05d}", k // devices
        rows.extend((device, m, T0_MS + 60_000 * tick, float(k % 97)) for m in METRICS)
    return rows


def transactions(rows: list[Row], per_txn: int) -> Iterator[list[Row]]:
    step = per_txn * len(METRICS)
    for i in range(0, len(rows), step):
        yield rows[i : i + step]


def run_layout(layout: Layout, rows: list[Row], per_txn: int, workdir: Path) -> float:
    path = workdir / f"layout-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if layout.cache_mb:
        conn.execute(f"PRAGMA cache_size=-{layout.cache_mb * 1024}")
    for statement in layout.schema:
        conn.execute(statement)
    ids: dict[tuple[str, str], int] = {}
    start = time.perf_counter()
    for txn in transactions(rows, per_txn):
        if layout.by_series:
            batch: list[tuple[object, ...]] = [
                (ids.setdefault((d, m), len(ids)), ts, v) for d, m, ts, v in txn
            ]
        else:
            batch = list(txn)
        conn.execute("BEGIN")
        if layout.json:
            conn.execute(layout.insert, (orjson.dumps(batch),))
        else:
            conn.executemany(layout.insert, batch)
        conn.execute("COMMIT")
    spent = time.perf_counter() - start
    conn.close()
    return len(rows) / spent


def run_store(rows: list[Row], per_txn: int, workdir: Path) -> float:
    """SqliteStore.write, the code ingest runs, on the same points."""
    readings = [
        Reading(txn_rows[0][0], txn_rows[0][2] / 1000, {m: v for _, m, _, v in txn_rows})
        for txn_rows in transactions(rows, 1)
    ]
    store = SqliteStore(workdir / f"store-{time.monotonic_ns()}.db")
    start = time.perf_counter()
    for i in range(0, len(readings), per_txn):
        store.write(readings[i : i + per_txn])
    spent = time.perf_counter() - start
    store.close()
    return len(rows) / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=800_000)
    parser.add_argument("--series", type=int, default=8_000)
    parser.add_argument("--batch", type=int, default=5_000, help="readings per transaction")
    parser.add_argument("--small", type=int, default=50, help="the small-transaction column")
    args = parser.parse_args()
    rows = points(args.points, args.series)
    sizes = (args.batch, args.small)
    with tempfile.TemporaryDirectory(prefix="kizuki-sqlite-") as tmp:
        workdir = Path(tmp)
        cases: list[tuple[str, Callable[[int], float]]] = [
            (lay.name, lambda n, lay=lay: run_layout(lay, rows, n, workdir)) for lay in LAYOUTS
        ]
        cases.append(
            ("SqliteStore.write (as ingest runs it)", lambda n: run_store(rows, n, workdir))
        )
        print(
            f"{len(rows):,} points, {args.series:,} series, 4 metrics per reading, WAL, "
            "synchronous=FULL, INSERT OR REPLACE; points/s\n"
        )
        print(f"{'layout':<44}" + "".join(f"{f'{n:,}/txn':>14}" for n in sizes))
        for name, fn in cases:
            print(f"{name:<44}" + "".join(f"{fn(n):>14,.0f}" for n in sizes), flush=True)
    print("\nreadings/s = points/s / 4")


if __name__ == "__main__":
    main()
