"""Offline files and the ``simulate`` command, as a user runs them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from simulator.cli import simulate
from simulator.fleet import Fleet
from simulator.offline import read_readings, read_truth, write_offline
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
    assert orjson.loads((tmp_path / "manifest.json").read_bytes()) == fleet.manifest()
    params = orjson.loads((tmp_path / "fleet.json").read_bytes())
    assert params["seed"] == 4 and params["n_devices"] == 20


def test_simulate_offline_writes_the_scoring_files(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--devices", "30", "--days", "3", "--seed", "5", "--failure-rate", "0.2"]
    result = CliRunner().invoke(app, [*args, "--offline", str(out), "--start", str(START)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "readings of 30 devices" in result.output
    truth = orjson.loads((out / "truth.json").read_bytes())
    same = Fleet(30, seed=5, failure_rate=0.2, start_ts=START, days=3)
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
    for option in ("--devices", "--speed", "--failure-rate", "--seed", "--qos", "--offline"):
        assert option in result.output
    assert "real time" in result.output
