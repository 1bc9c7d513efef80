"""SQLite telemetry store: embedded, zero set-up, WAL so readers never block the writer.

Layout::

    series(id INTEGER PRIMARY KEY, device, metric, UNIQUE(device, metric))
    points(series, ts_ms, value, PRIMARY KEY(series, ts_ms)) WITHOUT ROWID

The primary key makes writes idempotent on (device, metric, ts at ms precision): a
redelivered message replaces its own points instead of adding new ones. Integer keys keep
the B-tree small and writes fast; the series id cache avoids a lookup per point.

Measured on the shared 2-core dev machine (800k points, 8,000 series, 4 metrics per
reading, WAL, INSERT OR REPLACE, 5,000 readings per transaction; points/s):
rowid table + UNIQUE(device, metric, ts) 190k; WITHOUT ROWID PK(device, metric, ts)
207k (258k with a 64 MB page cache); WITHOUT ROWID PK(series, ts) 264k (342k with
64 MB cache, chosen); plain rowid table without any key 1.1M (not idempotent).
PK(ts, device, metric) wrote 830k but makes per-device queries scan a time range.
With 50 readings per transaction every layout lost 30-40 %; this class with
synchronous=FULL writes ~41k readings/s (164k points/s) at 5,000 per commit and ~11k
at 50, which is why ingest commits whatever has queued up in one transaction.
One ``INSERT ... SELECT FROM json_each(?)`` per transaction instead of ``executemany``
was tried: 329k vs 469k points/s alone on a quiet machine, no measurable gain inside
ingest, so not used. ``bench/sqlite_layout.py`` prints all of these side by side.

Rows go in key order, 2,000 per multi-row ``INSERT`` rather than one ``executemany``
step each. Python's sqlite3 lets go of the GIL around every step and must win it back
after; with paho's thread busy in the same process that cost 91-202 us per reading
(measured: 5,000-reading commits while another thread runs Python between socket
calls), against 6-9 us now; alone, 6.8 us per reading row by row and 5.3-6.3 sorted in
chunks (``ingest`` commits ~4 points per reading).
"""

from __future__ import annotations

import contextlib
import itertools
import operator
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.readings import Reading
from core.sqlite import use_wal
from ingest.base import StoreError
from ingest.retention import Compacted, Policy, compact

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, device TEXT NOT NULL, "
    "metric TEXT NOT NULL, UNIQUE(device, metric))",
    "CREATE TABLE IF NOT EXISTS points (series INTEGER NOT NULL, ts_ms INTEGER NOT NULL, "
    "value REAL NOT NULL, PRIMARY KEY(series, ts_ms)) WITHOUT ROWID",
)
_INSERT = "INSERT OR REPLACE INTO points (series, ts_ms, value) VALUES (?, ?, ?)"
_KEY = operator.itemgetter(0, 1)
_CHUNK = 2000  # rows per INSERT: 6,000 parameters, under SQLite's 32,766
_INSERT_CHUNK = _INSERT + ", (?, ?, ?)" * (_CHUNK - 1)


def _insert(conn: sqlite3.Connection, rows: list[tuple[int, int, float]]) -> None:
    """Insert rows in key order, 2,000 per statement (see the module docstring).

    The sort is stable on the key only, so of two rows with one key the later one still
    wins, as it would row by row.
    """
    rows.sort(key=_KEY)
    flat = list(itertools.chain.from_iterable(rows))
    step = 3 * _CHUNK
    full = len(flat) - len(flat) % step
    if full:
        conn.executemany(_INSERT_CHUNK, [flat[i : i + step] for i in range(0, full, step)])
    if full < len(flat):
        conn.execute(_INSERT + ", (?, ?, ?)" * ((len(flat) - full) // 3 - 1), flat[full:])


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    use_wal(conn)  # several workers may open one new file at once
    # FULL: a committed batch survives power loss too, since its messages are acked next.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


READ_TIMEOUT_S = 2.0


class SqliteStore:
    """``TelemetryStore`` in one SQLite file; safe to share between threads.

    Writes go through one connection under a lock. Reads (the API's pages, readiness,
    the case service's telemetry window) use a connection of their own per thread, with
    a busy timeout of ``read_timeout_s``: a stalled or slow write never holds them up
    (WAL readers see the last commit), and a database that cannot be read answers
    ``StoreError`` within that time instead of hanging the caller.
    """

    def __init__(self, path: str | Path, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.read_timeout_s = read_timeout_s
        self._readers = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()  # never the writer's lock: it may be held long
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = _connect(self.path)
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open telemetry database {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._series: dict[tuple[str, str], int] = {}

    def write(self, readings: Sequence[Reading]) -> int:
        """Commit readings in one transaction; return the number of points written."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                rows = self._rows(readings)
                _insert(self._conn, rows)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._series.clear()
                raise StoreError(f"telemetry write failed: {exc}") from None
        return len(rows)

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every: float | None = None,
    ) -> list[tuple[float, float]]:
        """Points of one metric in [start, end), oldest first; ``every`` s averages buckets."""
        lo, hi = _ms(start), _ms(end)
        if every is None:
            sql = (
                "SELECT p.ts_ms / 1000.0, p.value FROM points p JOIN series s ON s.id = p.series "
                "WHERE s.device = ? AND s.metric = ? AND p.ts_ms >= ? AND p.ts_ms < ? "
                "ORDER BY p.ts_ms"
            )
            return self._fetch(sql, (device_id, metric, lo, hi))
        step = max(1, _ms(every))
        sql = (
            "SELECT (p.ts_ms - (p.ts_ms % ?)) / 1000.0 AS bucket, avg(p.value) FROM points p "
            "JOIN series s ON s.id = p.series WHERE s.device = ? AND s.metric = ? "
            "AND p.ts_ms >= ? AND p.ts_ms < ? GROUP BY bucket ORDER BY bucket"
        )
        return self._fetch(sql, (step, device_id, metric, lo, hi))

    def latest(self, device_id: str) -> Reading | None:
        """The newest value of each metric of a device, stamped with the newest ts."""
        sql = (
            "SELECT s.metric, p.ts_ms, p.value FROM series s JOIN points p ON p.series = s.id "
            "AND p.ts_ms = (SELECT max(ts_ms) FROM points WHERE series = s.id) "
            "WHERE s.device = ?"
        )
        rows = self._fetch(sql, (device_id,))
        if not rows:
            return None
        newest = max(int(ts_ms) for _, ts_ms, _ in rows)
        return Reading(device_id, newest / 1000.0, {m: float(v) for m, _, v in rows})

    def compact(self, policy: Policy, now: float) -> Compacted:
        """Downsample and expire old points (:mod:`ingest.retention`)."""
        try:
            return compact(self._conn, self._lock, policy, now)
        except sqlite3.Error as exc:
            raise StoreError(f"telemetry retention pass failed: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        with self._readers_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _rows(self, readings: Iterable[Reading]) -> list[tuple[int, int, float]]:
        series = self._series
        rows = []
        for reading in readings:
            ts_ms = round(reading.ts * 1000)
            for metric, value in reading.metrics.items():
                key = (reading.device_id, metric)
                sid = series.get(key)
                if sid is None:
                    sid = self._series_id(key)
                rows.append((sid, ts_ms, value))
        return rows

    def _series_id(self, key: tuple[str, str]) -> int:
        conn = self._conn
        conn.execute("INSERT OR IGNORE INTO series (device, metric) VALUES (?, ?)", key)
        row = conn.execute("SELECT id FROM series WHERE device = ? AND metric = ?", key).fetchone()
        self._series[key] = int(row[0])
        return int(row[0])

    def _fetch(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            return [tuple(row) for row in self._reader().execute(sql, params)]
        except sqlite3.Error as exc:
            raise StoreError(f"telemetry query failed: {exc}") from None

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.read_timeout_s,
            )
            conn.execute("PRAGMA query_only=ON")
            self._readers.conn = conn
            with self._readers_lock:
                self._reader_conns.append(conn)
        return conn

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
