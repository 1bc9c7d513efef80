"""The detection journal: anomaly events persisted before their readings are acked.

Detection runs in the ingest sink, before the broker gets its acknowledgement. Its events
are appended here (a small SQLite file, WAL, fsync on commit) in the same step; a separate
thread hands them to the case service in order and deletes each one only once the case
database has taken it. A case database that is down (locked, restarting) holds the queue
back, nothing is lost; an event the case service refuses for another reason is set aside
in ``failed`` with its error. The case service is idempotent, so an event handed over
twice (a crash between the case commit and the delete) changes nothing the second time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.events import AnomalyEvent, Explanation
from core.sqlite import use_wal

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT)",
    "CREATE TABLE IF NOT EXISTS failed (id INTEGER PRIMARY KEY, event TEXT, error TEXT)",
)


def to_json(event: AnomalyEvent) -> str:
    return json.dumps(event.to_dict(), default=float, separators=(",", ":"))


def from_json(text: str) -> AnomalyEvent:
    data: dict[str, Any] = json.loads(text)
    why = data.pop("why")
    why["detectors"] = tuple(why.get("detectors") or ())
    return AnomalyEvent(**data, why=Explanation(**why))


class EventJournal:
    """Pending anomaly events, oldest first (see the module docstring). Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        use_wal(self._db)
        self._db.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            self._db.execute(statement)
        self._lock = threading.Lock()

    def append(self, events: Sequence[AnomalyEvent]) -> None:
        """Persist ``events`` (one transaction) before anything is acknowledged."""
        if not events:
            return
        rows = [(to_json(e),) for e in events]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO pending (event) VALUES (?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def pending(self, limit: int = 200) -> list[tuple[int, AnomalyEvent]]:
        """The oldest ``limit`` events still to hand over."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event FROM pending ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [(int(i), from_json(text)) for i, text in rows]

    def done(self, event_id: int) -> None:
        """The case service has taken the event."""
        with self._lock:
            self._db.execute("DELETE FROM pending WHERE id = ?", (event_id,))

    def fail(self, event_id: int, error: str) -> None:
        """Set an event aside that the case service refused (not an outage)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO failed (id, event, error) SELECT id, event, ? FROM pending "
                "WHERE id = ?",
                (error[:2000], event_id),
            )
            self._db.execute("DELETE FROM pending WHERE id = ?", (event_id,))
            self._db.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """``pending`` and ``failed`` events."""
        with self._lock:
            pending = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
            failed = self._db.execute("SELECT count(*) FROM failed").fetchone()[0]
        return {"pending": int(pending), "failed": int(failed)}

    def close(self) -> None:
        with self._lock:
            self._db.close()
