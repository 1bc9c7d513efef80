"""Bounded telemetry and dead letters: downsample old points, drop what is past retention.

SQLite telemetry (``store.backend = "sqlite"``), per series and in small transactions so
ingest waits at most one of them:

* points older than ``store.downsample_after_days`` are replaced by one point per
  ``store.downsample_bucket_s`` (the bucket's mean, stamped at the bucket's start);
* points older than ``store.retention_days`` are deleted.

A watermark (table ``retention``) records up to where downsampling has run, so each pass
only reads what became old since the last one. A point arriving later than the watermark
for its time stays raw until retention drops it. InfluxDB keeps its own retention (the
bucket's retention period, set when the bucket is created; docs/deployment.md).

Dead letters older than ``ingest.dead_letter_retention_days`` are deleted.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

DAY_S = 86400.0
SERIES_PER_TRANSACTION = 200
_META = "CREATE TABLE IF NOT EXISTS retention (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
_AVERAGE = (
    "INSERT OR REPLACE INTO points (series, ts_ms, value) "
    "SELECT series, ts_ms - (ts_ms % :b), avg(value) FROM points "
    "WHERE series = :s AND ts_ms >= :lo AND ts_ms < :hi GROUP BY ts_ms - (ts_ms % :b)"
)
_DROP_RAW = (
    "DELETE FROM points WHERE series = :s AND ts_ms >= :lo AND ts_ms < :hi AND ts_ms % :b != 0"
)
_DROP_OLD = "DELETE FROM points WHERE series = :s AND ts_ms < :keep"


@dataclass(frozen=True, slots=True)
class Policy:
    """What to keep: raw points for ``raw_s``, ``bucket_s`` means until ``keep_s``
    (None: forever)."""

    raw_s: float | None
    bucket_s: float
    keep_s: float | None

    @classmethod
    def from_days(
        cls, downsample_after_days: float | None, bucket_s: float, retention_days: float | None
    ) -> Policy:
        raw = downsample_after_days * DAY_S if downsample_after_days else None
        keep = retention_days * DAY_S if retention_days else None
        return cls(raw, bucket_s, keep)


@dataclass(frozen=True, slots=True)
class Compacted:
    """What one pass did: raw points folded into bucket means, and points expired."""

    downsampled: int = 0
    expired: int = 0


def compact(
    conn: sqlite3.Connection, lock: threading.Lock, policy: Policy, now: float
) -> Compacted:
    """Apply ``policy`` at time ``now`` to the points table behind ``conn`` (the store's
    write connection; ``lock`` is held for one transaction of a few series at a time)."""
    with lock:
        conn.execute(_META)
        row = conn.execute("SELECT value FROM retention WHERE key = 'downsampled_to'").fetchone()
        series = [int(r[0]) for r in conn.execute("SELECT id FROM series ORDER BY id")]
    since = int(row[0]) if row else 0
    bucket = max(1, round(policy.bucket_s * 1000))
    until = _bucket_floor(now - policy.raw_s, bucket) if policy.raw_s else None
    keep = round((now - policy.keep_s) * 1000) if policy.keep_s else None
    downsampled = expired = 0
    for start in range(0, len(series), SERIES_PER_TRANSACTION):
        chunk = series[start : start + SERIES_PER_TRANSACTION]
        with lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sid in chunk:
                    if keep is not None:  # first: no need to average what goes anyway
                        expired += conn.execute(_DROP_OLD, {"s": sid, "keep": keep}).rowcount
                    if until is not None and until > since:
                        args = {"s": sid, "lo": max(since, keep or 0), "hi": until, "b": bucket}
                        conn.execute(_AVERAGE, args)
                        downsampled += conn.execute(_DROP_RAW, args).rowcount
                conn.execute("COMMIT")
            except sqlite3.Error:
                conn.execute("ROLLBACK")
                raise
    if until is not None and until > since:
        with lock:
            conn.execute(
                "INSERT OR REPLACE INTO retention (key, value) VALUES ('downsampled_to', ?)",
                (until,),
            )
    return Compacted(downsampled, expired)


def _bucket_floor(seconds: float, bucket_ms: int) -> int:
    ms = round(seconds * 1000)
    return ms - ms % bucket_ms


@runtime_checkable
class Compactable(Protocol):
    def compact(self, policy: Policy, now: float) -> Compacted: ...


@runtime_checkable
class Prunable(Protocol):
    def prune(self, before: float) -> int: ...


def run_pass(store: Any, deadletters: Any, settings: Any, now: float) -> tuple[Compacted, int]:
    """One retention pass over the telemetry store (SQLite only) and the dead letters,
    per ``settings`` (an :class:`ingest.settings.IngestConfig`); logs what it removed."""
    cfg = settings.store
    done = Compacted()
    if isinstance(store, Compactable):
        policy = Policy.from_days(
            cfg.downsample_after_days, cfg.downsample_bucket_s, cfg.retention_days
        )
        done = store.compact(policy, now)
    letters = 0
    keep_days = settings.ingest.dead_letter_retention_days
    if keep_days and isinstance(deadletters, Prunable):
        letters = deadletters.prune(now - keep_days * DAY_S)
    if done.downsampled or done.expired or letters:
        log.info(
            "retention: %d raw points folded into bucket means, %d points and %d dead "
            "letters past retention deleted",
            done.downsampled,
            done.expired,
            letters,
        )
    return done, letters
