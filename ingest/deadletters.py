"""Dead letters in SQLite: every refused message, its raw payload, reason and time.

Payloads are BLOBs, kept byte for byte up to ``core.readings.PREVIEW_BYTES``; of a
larger message only that preview is kept, with its size and SHA-256. Each letter may
carry a ``msg_key`` (MQTT packet id + digest of topic and payload). A message the broker
redelivers after a crash (DUP flag set) and that was already dead-lettered under the
same key and reason is not kept again. A first delivery is always kept, even when an
older letter happens to share its key: packet ids wrap, and a device may well send the
same bad payload twice.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.readings import PREVIEW_BYTES, DeadLetter
from core.sqlite import use_wal
from ingest.base import StoreError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, "
    "received_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dead_letters_reason ON dead_letters (reason, id)",
)
_KEY_COLUMN = (  # added after the first release: existing files are upgraded in place
    "ALTER TABLE dead_letters ADD COLUMN msg_key TEXT",
    "CREATE INDEX IF NOT EXISTS dead_letters_key ON dead_letters (msg_key)",
)
_SIZE_COLUMNS = (  # added with bounded payloads: the whole message's size and digest
    ("size", "ALTER TABLE dead_letters ADD COLUMN size INTEGER"),
    ("sha256", "ALTER TABLE dead_letters ADD COLUMN sha256 TEXT"),
)
# files written before payloads were bounded may hold whole payloads: read the preview only
_COLUMNS = (
    f"topic, substr(payload, 1, {PREVIEW_BYTES}), reason, detail, received_at, id, msg_key, "
    "coalesce(size, length(payload)), sha256"
)
_FIELDS = "topic, payload, reason, detail, received_at, msg_key, size, sha256"
_INSERT = f"INSERT INTO dead_letters ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_UNSEEN = (
    f"INSERT INTO dead_letters ({_FIELDS}) SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
    "(SELECT 1 FROM dead_letters WHERE msg_key = ? AND reason = ?)"
)
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
            use_wal(self._conn)
            for statement in _SCHEMA:
                self._conn.execute(statement)
            self._add_key_column()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open dead-letter database {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def add(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Keep letters in one transaction; return those kept (see the module docstring)."""
        if not letters:
            return []
        with self._lock:
            try:
                self._conn.execute("BEGIN")
                kept = [d for d in letters if self._insert(d)]
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise StoreError(f"dead-letter write failed: {exc}") from None
        return kept

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
        return [
            DeadLetter(t, bytes(p), r, d, at, i, k, size=n, sha256=h)
            for t, p, r, d, at, i, k, n, h in rows
        ]

    def counts(self) -> dict[str, int]:
        """Dead letters kept, per reason."""
        rows = self._fetch("SELECT reason, count(*) FROM dead_letters GROUP BY reason", ())
        return {reason: int(n) for reason, n in rows}

    def prune(self, before: float) -> int:
        """Delete letters received before ``before`` (epoch seconds); how many."""
        with self._lock:
            try:
                return self._conn.execute(
                    "DELETE FROM dead_letters WHERE received_at < ?", (before,)
                ).rowcount
            except sqlite3.Error as exc:
                raise StoreError(f"dead-letter retention pass failed: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _insert(self, letter: DeadLetter) -> bool:
        d = letter.bounded()
        row = (d.topic, d.payload, d.reason, d.detail, d.received_at, d.msg_key, d.size, d.sha256)
        if d.redelivered and d.msg_key is not None:
            return self._conn.execute(_INSERT_UNSEEN, (*row, d.msg_key, d.reason)).rowcount == 1
        self._conn.execute(_INSERT, row)
        return True

    def _add_key_column(self) -> None:
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(dead_letters)")}
        if "msg_key" not in columns:
            self._conn.execute(_KEY_COLUMN[0])
        self._conn.execute(_KEY_COLUMN[1])
        for name, statement in _SIZE_COLUMNS:
            if name not in columns:
                self._conn.execute(statement)

    def _fetch(self, sql: str, params: tuple[object, ...]) -> _Rows:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params))
            except sqlite3.Error as exc:
                raise StoreError(f"dead-letter query failed: {exc}") from None
