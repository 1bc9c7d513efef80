"""`kizuki score`: one streaming pass over a CSV, clear errors for bad input."""

from __future__ import annotations

import csv
import math
import random
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


def test_a_timestamp_going_back_is_a_warning_and_scoring_goes_on(tmp_path):
    series = healthy(200, seed=3)
    back = series[:100] + [(series[99][0] - 3300.0, series[100][1])] + series[101:]
    src = write_csv(tmp_path / "back.csv", back + [series[-1]])  # and a duplicate at the end
    result = runner.invoke(app, ["score", str(src), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert (
        "line 102: timestamp" in result.stderr and "earlier than the line before" in result.stderr
    )
    assert "the same as the line before" in result.stderr
    with (tmp_path / "o.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(back) + 1


def _sine_with_drift(seed: int) -> list[tuple[float, float]]:
    """The issue's plain series: a slow sine plus noise, 1 point/s, a drift from 1,500."""
    rng = random.Random(seed)
    return [
        (
            1.7e9 + i,
            10 + math.sin(2 * math.pi * i / 600) + rng.gauss(0, 0.2) + max(0, i - 1500) * 0.02,
        )
        for i in range(3000)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plain_series_scores_are_bounded_and_alarms_mark_the_drift_onset(tmp_path, seed):
    rows = run_score(write_csv(tmp_path / "s.csv", _sine_with_drift(seed)), tmp_path / "o.csv")
    scores = [float(r["score"]) for r in rows]
    onsets = [i for i, r in enumerate(rows) if r["is_anomaly"] == "1"]
    assert all(0.0 <= s <= 1.0 for s in scores)
    # a tail probability of 1e-4 per point and check: about 0.5 false onsets in 1,500
    assert len([i for i in onsets if i < 1500]) <= 1, "the healthy part stays quiet"
    assert any(1500 <= i < 1800 for i in onsets), "the drift's onset is marked"
    assert len(onsets) <= 5, "onsets, not an alarm left on for the whole drift"


def test_a_flat_stretch_does_not_divide_by_zero(tmp_path):
    rows = [(1.7e9 + i, 5.0) for i in range(300)] + [
        (1.7e9 + 300 + i, 5.0 + 0.001 * (i % 2)) for i in range(100)
    ]
    out = run_score(write_csv(tmp_path / "flat.csv", rows), tmp_path / "o.csv")
    scores = [float(r["score"]) for r in out]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(r["is_anomaly"] == "1" for r in out) <= 1, "one onset when it starts to move"


@pytest.mark.parametrize("profile", ["low", "default", "high"])
def test_profiles_order_the_sensitivity(tmp_path, profile):
    series = healthy(6 * DAY_POINTS, seed=21)
    src = write_csv(tmp_path / "h.csv", series)
    result = runner.invoke(
        app, ["score", str(src), "--profile", profile, "--out", str(tmp_path / f"{profile}.csv")]
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["score", str(src), "--profile", "loud"]).exit_code == 2
