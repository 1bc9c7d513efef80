"""Offline files and the ``simulate`` command, as a user runs them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from simulator.cli import failure_summary, simulate
from simulator.fleet import Fleet
from simulator.offline import (
    read_benign,
    read_offline,
    read_readings,
    read_truth,
    rebuild_fleet,
    write_offline,
)
from tests.simulator.conftest import START


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command()(simulate)
    return app


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_offline_files_round_trip(tmp_path: Path, fmt: str) -> None:
    fleet = Fleet(20, seed=4, failure_rate=0.3, start_ts=START, days=2)
    count = write_offline(fleet, tmp_path, fmt)  # type: ignore[arg-type]
    expected = [r for _, rs in fleet.ticks() for r in rs]
    assert count == len(expected)
    assert list(read_readings(tmp_path / f"readings.{fmt}")) == expected
    assert read_truth(tmp_path / "truth.json") == fleet.truth()
    assert read_benign(tmp_path / "benign.json") == fleet.benign() != []
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert {k: manifest[k] for k in ("customers", "devices")} == fleet.manifest()
    assert manifest["fleet"]["seed"] == 4 and manifest["fleet"]["n_devices"] == 20
    assert manifest["files"]["readings"] == f"readings.{fmt}"
    assert manifest["counts"]["readings"] == count


def test_an_offline_folder_describes_itself(tmp_path: Path) -> None:
    fleet = Fleet(30, seed=8, failure_rate=0.3, start_ts=START, days=6, step_s=900, benign_rate=0.5)
    write_offline(fleet, tmp_path, "csv")
    run = read_offline(tmp_path)
    assert run.truth == fleet.truth() and run.benign == fleet.benign()
    assert run.models == {d.device_id: d.model for d in fleet.devices}
    assert run.manifest["window"] == {
        "start_ts": START,
        "end_ts": START + 6 * 86400,
        "step_s": 900.0,
        "ticks": 576,
    }
    rebuilt = run.fleet()  # from the recorded parameters alone
    assert list(run.readings()) == [r for _, rs in rebuilt.ticks() for r in rs]
    assert rebuilt.truth() == run.truth and rebuilt.benign() == run.benign


def test_benign_json_says_where_a_level_moved(tmp_path: Path) -> None:
    fleet = Fleet(60, seed=3, failure_rate=0.0, start_ts=START, days=12, benign_rate=1.0)
    write_offline(fleet, tmp_path)
    run = read_offline(tmp_path)
    steps = [b for b in run.benign if b.start_ts == b.end_ts]
    assert {b.kind for b in run.benign} == {"relocation", "firmware", "seasonal"}
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in run.readings():
        for metric, value in r.metrics.items():
            series.setdefault((r.device_id, metric), []).append((r.ts, value))
    for change in steps:
        points = series[(change.device_id, change.metric)]
        day_before = [v for ts, v in points if change.start_ts - 86400 <= ts < change.start_ts]
        day_after = [v for ts, v in points if change.start_ts <= ts < change.start_ts + 86400]
        moved = sum(day_after) / len(day_after) - sum(day_before) / len(day_before)
        assert abs(moved - change.shift) < 0.5 * abs(change.shift), change


def test_an_incomplete_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readings.jsonl").write_text("")
    with pytest.raises(ValueError, match="no manifest.json"):
        read_offline(tmp_path)


def test_fleets_given_explicit_plans_are_not_rebuilt_silently() -> None:
    demo = Fleet.demo(30, seed=7, end_ts=START + 10 * 86400)
    assert rebuild_fleet(demo.parameters()).truth() == demo.truth() != []
    params = {**demo.parameters(), "preset": None}
    with pytest.raises(ValueError, match="explicit failure plans"):
        rebuild_fleet(params)


def test_simulate_offline_writes_the_scoring_files(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--devices", "30", "--days", "3", "--seed", "5", "--failure-rate", "0.2"]
    result = CliRunner().invoke(app, [*args, "--offline", str(out), "--start", str(START)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "readings of 30 devices" in result.output
    same = Fleet(30, seed=5, failure_rate=0.2, start_ts=START, days=3)
    assert f"{len(same.truth())} failures begin in the window" in result.output
    assert f"{len(same.benign())} benign changes (benign.json)" in result.output
    assert orjson.loads((out / "benign.json").read_bytes()) == [
        dataclasses.asdict(b) for b in same.benign()
    ]
    truth = orjson.loads((out / "truth.json").read_bytes())
    assert truth == [dataclasses.asdict(t) for t in same.truth()]
    first = orjson.loads((out / "readings.jsonl").read_bytes().splitlines()[0])
    assert first["ts"] == START and set(first) == {"device_id", "ts", "metrics"}


def test_simulate_publishes_to_the_broker(
    app: typer.Typer, mosquitto_url: str, unique: str
) -> None:
    args = ["--devices", "5", "--days", "0.5", "--url", mosquitto_url]
    result = CliRunner().invoke(app, [*args, "--topic-prefix", f"t-{unique}/"])
    assert result.exit_code == 0, result.output
    assert "published" in result.output and "72 ticks" in result.output


def test_unreachable_broker_is_one_line_and_exit_1(app: typer.Typer, port: int) -> None:
    result = CliRunner().invoke(app, ["--devices", "2", "--url", f"mqtt://127.0.0.1:{port}"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot reach MQTT broker at mqtt://127.0.0.1:{port}")


def test_iso_start_without_offset_is_utc(app: typer.Typer, tmp_path: Path) -> None:
    args = ["--devices", "2", "--days", "0.1", "--offline", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--start", "2026-01-01T00:00:00"])
    assert result.exit_code == 0, result.output
    first = orjson.loads((tmp_path / "readings.jsonl").read_bytes().splitlines()[0])
    assert first["ts"] == START
    bad = CliRunner().invoke(app, [*args, "--start", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_help_explains_the_options(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    options = ("--devices", "--speed", "--failure-rate", "--seed", "--qos", "--offline")
    for option in (*options, "--protocol", "--benign", "--truth"):
        assert option in result.output
    assert "real time" in result.output and "benign.json" in result.output
    bad = CliRunner().invoke(app, ["--protocol", "4", "--devices", "1"])
    assert bad.exit_code == 2 and "3.1.1 or 5" in bad.output


def test_the_failure_count_covers_only_the_ticks_that_ran() -> None:
    fleet = Fleet(300, seed=2, failure_rate=0.3, start_ts=START, days=10)
    planned = len(fleet.truth())
    assert failure_summary(fleet, fleet.n_ticks).startswith(f"{planned} failures begin")
    first_day = failure_summary(fleet, 144)  # a run stopped after one day
    assert first_day.startswith("0 failures begin in the window, 0 reach the notice limit")
    assert first_day.endswith(f"({planned} more begin later)")
