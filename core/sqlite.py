"""Switching a SQLite file to WAL when other processes may be opening it at the same time.

Workers that share one file (the embedded telemetry store, a SQLite case DB) start
together. Switching a new file's journal mode needs the file to itself, and SQLite
answers "database is locked" to the loser at once instead of waiting out its busy
timeout. :func:`use_wal` retries until ``timeout_s``; a file already in WAL mode is only
asked, never switched again.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

OPEN_TIMEOUT_S = 30.0


def use_wal(conn: Any, timeout_s: float = OPEN_TIMEOUT_S) -> None:
    """Put ``conn``'s file in WAL mode (``conn``: a DB-API sqlite3 connection)."""
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        cursor = conn.cursor()
        try:
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
        finally:
            cursor.close()
