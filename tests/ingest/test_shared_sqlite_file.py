"""Processes that open one new SQLite file at the same moment (workers sharing a store)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from core.sqlite import use_wal
from ingest.embedded_store import SqliteStore


def _open_store(path: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    barrier.wait()
    SqliteStore(path).close()


def test_workers_opening_one_new_store_together_all_start(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(8):  # the race was lost about one time in fifteen before the fix
        path = tmp_path / f"telemetry-{attempt}.db"
        barrier = ctx.Barrier(4)
        openers = [ctx.Process(target=_open_store, args=(path, barrier)) for _ in range(4)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(60)
        assert [opener.exitcode for opener in openers] == [0, 0, 0, 0]
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_use_wal_waits_for_a_process_that_holds_the_file(tmp_path: Path) -> None:
    holder = sqlite3.connect(tmp_path / "shared.db", isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(tmp_path / "shared.db", timeout=0, check_same_thread=False)
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    began = time.monotonic()
    use_wal(opener, timeout_s=10)
    assert time.monotonic() - began >= 0.25  # it waited for the holder, then switched
    assert opener.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_use_wal_gives_up_with_sqlites_error_after_its_timeout(tmp_path: Path) -> None:
    holder = sqlite3.connect(tmp_path / "shared.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    opener = sqlite3.connect(tmp_path / "shared.db", timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(opener, timeout_s=0.3)
    holder.execute("ROLLBACK")
