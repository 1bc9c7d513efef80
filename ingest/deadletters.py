"""Dead letters in SQLite: every refused message, its raw payload, reason and time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.base import DeadLetter, StoreError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, "
    "received_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id)",
)
_COLUMNS = "topic, payload, reason, detail, received_at, id"
_Rows = list[tuple[Any, ...]]


class SqliteDeadLetters:
    """``DeadLetterStore`` in one SQLite file (WAL); safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open dead-letter database {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keep letters in one transaction."""
        if not letters:
            return
        rows = [(d.topic, d.payload, d.reason, d.detail, d.received_at) for d in letters]
        sql = (
            "INSERT INTO dead_letters (topic, payload, reason, detail, received_at) "
            "VALUES (?, ?, ?, ?, ?)"
        )
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"dead-letter write failed: {exc}") from None

    def list(
        self, limit: int = 100, before_id: int | None = None, reason: str | None = None
    ) -> list[DeadLetter]:
        """Newest first; page with ``before_id``; filter by ``reason``."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        if reason is not None:
            where.append("reason = ?")
            params.append(reason)
        sql = (
            f"SELECT {_COLUMNS} FROM dead_letters WHERE {' AND '.join(where)} "
            "ORDER BY id DESC LIMIT ?"
        )
        rows = self._fetch(sql, (*params, max(0, limit)))
        return [DeadLetter(t, bytes(p), r, d, at, i) for t, p, r, d, at, i in rows]

    def counts(self) -> dict[str, int]:
        """Dead letters kept, per reason."""
        rows = self._fetch("SELECT reason, count(*) FROM dead_letters GROUP BY reason", ())
        return {reason: int(n) for reason, n in rows}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _fetch(self, sql: str, params: tuple[object, ...]) -> _Rows:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(f"dead-letter query failed: {exc}") from None
