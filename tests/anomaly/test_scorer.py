"""`kizuki score`: one streaming pass over a CSV, clear errors for bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from anomaly.cli import score
from tests.anomaly.series import DAY_POINTS, healthy, with_step

app = typer.Typer()
app.command()(score)
app.command("noop")(lambda: None)  # two commands, so "score" is addressed by name
runner = CliRunner()


def write_csv(path: Path, rows, header: bool = True) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(["timestamp", "value"])
        w.writerows(rows)
    return path


def run_score(src: Path, out: Path) -> list[dict[str, str]]:
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open() as f:
        return list(csv.DictReader(f))


def test_writes_scores_and_flags_the_step_not_the_healthy_part(tmp_path):
    series = with_step(healthy(4 * DAY_POINTS, seed=11), at=3 * DAY_POINTS, size=3.0)
    rows = run_score(write_csv(tmp_path / "in.csv", series), tmp_path / "out.csv")
    assert list(rows[0]) == ["timestamp", "value", "score", "is_anomaly"]
    assert len(rows) == len(series)
    flags = [r["is_anomaly"] == "1" for r in rows]
    assert not any(flags[: 3 * DAY_POINTS]), "no alarm on the healthy cycle"
    assert any(flags[3 * DAY_POINTS : 3 * DAY_POINTS + 6]), "the step is flagged at once"


def test_streaming_appending_future_points_does_not_change_earlier_scores(tmp_path):
    series = with_step(healthy(3 * DAY_POINTS, seed=12), at=2 * DAY_POINTS, size=2.0)
    cut = 2 * DAY_POINTS + 20
    short = run_score(write_csv(tmp_path / "a.csv", series[:cut]), tmp_path / "a_out.csv")
    full = run_score(write_csv(tmp_path / "b.csv", series), tmp_path / "b_out.csv")
    assert full[:cut] == short


def test_iso_timestamps_and_no_header_are_accepted(tmp_path):
    rows = [("2026-01-01T00:00:00Z", 1.0), ("2026-01-01T00:10:00", 1.1)]
    out = run_score(write_csv(tmp_path / "iso.csv", rows, header=False), tmp_path / "o.csv")
    assert [r["timestamp"] for r in out] == ["2026-01-01T00:00:00Z", "2026-01-01T00:10:00"]
    assert [r["score"] for r in out] == ["0", "0"], "neutral during warm-up"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["timestamp,value", "1,2", "2,abc"], "line 3: value 'abc' is not a number"),
        (["1,2", "2,3,4"], "line 2: expected 2 columns"),
        (["1,2", "yesterday,3"], "line 2: timestamp 'yesterday'"),
        (["5,2", "4,3"], "line 2: timestamp '4' is earlier"),
        (["1,nan"], "line 1: value 'nan' is not finite"),
        (["timestamp,value"], "no data rows"),
    ],
)
def test_bad_csv_errors_name_the_line_and_the_problem(tmp_path, lines, message):
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists(), "no half-written output"


def test_missing_file_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["score", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv" in result.output
