"""open_store / open_deadletters follow the settings; dead letters page and filter."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.readings import DeadLetter, Reading
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.influx_store import InfluxStore
from ingest.stores import open_deadletters, open_store
from kizuki.config import Settings


def test_default_backend_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings.store, settings.telemetry_path)
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "telemetry.db"
    store.close()


def test_influxdb_backend_from_settings(tmp_path: Path) -> None:
    settings = Settings(store={"backend": "influxdb", "influx_url": "http://127.0.0.1:9"})
    store = open_store(settings.store, settings.telemetry_path)
    assert isinstance(store, InfluxStore) and store.database == "telemetry"
    store.close()


def test_sqlite_batch_across_insert_chunks_keeps_every_point_and_the_later_duplicate(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "t.db")
    # 4,100 points: two full 2,000-row statements and a remainder; out of key order
    batch = [
        Reading(f"d{i % 7}", 1000.0 + i // 7, {"a": float(i), "b": -float(i)})
        for i in reversed(range(2050))
    ]
    batch += [Reading("d0", 5.0, {"a": v}) for v in (5.0, 1.0, 3.0)]  # one key, three values
    assert store.write(batch) == 4103
    assert store.query("d0", "a", 5.0, 6.0) == [(5.0, 3.0)], "the later value wins"
    stored = sum(len(store.query(f"d{d}", m, 1000.0, 2000.0)) for d in range(7) for m in "ab")
    assert stored == 4100
    assert store.query("d3", "b", 1000.0, 1001.0) == [(1000.0, -3.0)]


def test_dead_letters_page_newest_first_and_filter(tmp_path: Path) -> None:
    letters = open_deadletters(Settings(data_dir=tmp_path).deadletter_path)
    letters.add(
        [
            DeadLetter("t", bytes([i]), "not_json" if i % 2 else "ts_past", f"#{i}", i)
            for i in range(5)
        ]
    )
    page = letters.list(limit=2)
    assert [d.detail for d in page] == ["#4", "#3"]
    assert [d.detail for d in letters.list(limit=10, before_id=page[-1].id)] == ["#2", "#1", "#0"]
    assert [d.payload for d in letters.list(reason="not_json")] == [b"\x03", b"\x01"]
    assert letters.counts() == {"not_json": 2, "ts_past": 3}
    letters.close()


def test_dead_letter_file_from_before_msg_key_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the first release's schema, one letter in it
        conn.execute(
            "CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT "
            "NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, "
            "received_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO dead_letters VALUES (1, 't', x'00ff', 'not_json', '', 1.0)")
    letters = SqliteDeadLetters(path)
    new = DeadLetter("t", b"\x01", "not_json", "", 2.0, msg_key="7:ab", redelivered=True)
    assert letters.add([new]) == [new]
    assert letters.add([new]) == []  # the same delivery again: already kept
    kept = [(d.payload, d.msg_key) for d in letters.list()]
    assert kept == [(b"\x01", "7:ab"), (b"\x00\xff", None)]
    assert letters.list()[1].payload_base64 == "AP8="
    letters.close()
