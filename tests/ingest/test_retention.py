"""Retention: old telemetry becomes hourly means, older still is deleted; old dead letters
go; recent data is untouched; a second pass changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.readings import DeadLetter, Reading
from ingest.deadletters import SqliteDeadLetters
from ingest.embedded_store import SqliteStore
from ingest.retention import run_pass
from ingest.settings import IngestConfig
from kizuki.config import Settings

DAY = 86400.0
NOW = 1_800_000_000.0 - (1_800_000_000.0 % 3600)  # on an hour boundary


def config(**store: object) -> IngestConfig:
    return IngestConfig.of(Settings(store=store, ingest={"dead_letter_retention_days": 7}))


@pytest.fixture
def store(tmp_path: Path):  # noqa: ANN201
    s = SqliteStore(tmp_path / "t.db")
    # one reading a minute for 4 days: value = minute of the hour (mean of an hour: 29.5)
    readings = [
        Reading("ac-1", NOW - 4 * DAY + i * 60, {"t": float(i % 60), "p": 1.0})
        for i in range(int(4 * DAY / 60))
    ]
    s.write(readings)
    yield s
    s.close()


def test_old_points_become_hourly_means_and_older_ones_go(store: SqliteStore) -> None:
    settings = config(downsample_after_days=1, retention_days=3, downsample_bucket_s=3600)
    done, _ = run_pass(store, None, settings, NOW)
    old = store.query("ac-1", "t", NOW - 4 * DAY, NOW - DAY)
    assert old[0][0] == NOW - 3 * DAY  # nothing older than retention
    assert [ts for ts, _ in old] == [NOW - 3 * DAY + h * 3600 for h in range(48)]
    assert {value for _, value in old} == {29.5}  # each the mean of its hour
    recent = store.query("ac-1", "t", NOW - DAY, NOW)
    assert len(recent) == 24 * 60  # the last day stays raw
    assert done.expired == 2 * 24 * 60  # one day of two metrics, raw
    assert done.downsampled == 2 * 2 * 24 * 59  # two days of two metrics, 59 of 60 folded
    again, _ = run_pass(store, None, settings, NOW)
    assert (again.downsampled, again.expired) == (0, 0)
    assert store.query("ac-1", "t", NOW - 4 * DAY, NOW) == old + recent


def test_unset_retention_keeps_everything(store: SqliteStore) -> None:
    settings = config(downsample_after_days=None, retention_days=None)
    done, _ = run_pass(store, None, settings, NOW)
    assert (done.downsampled, done.expired) == (0, 0)
    assert len(store.query("ac-1", "t", NOW - 5 * DAY, NOW)) == 4 * 24 * 60


def test_old_dead_letters_go(tmp_path: Path) -> None:
    letters = SqliteDeadLetters(tmp_path / "d.db")
    letters.add(
        [
            DeadLetter("devices/x/telemetry", b"{", "bad_json", "", NOW - d * DAY)
            for d in (1, 6, 8, 30)
        ]
    )
    _, removed = run_pass(None, letters, config(), NOW)
    assert removed == 2
    assert sorted(d.received_at for d in letters.list()) == [NOW - 6 * DAY, NOW - DAY]
    letters.close()


def test_retention_must_outlast_downsampling() -> None:
    with pytest.raises(ValueError, match="retention_days must be longer"):
        Settings(store={"downsample_after_days": 30, "retention_days": 7})
