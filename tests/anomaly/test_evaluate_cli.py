"""``kizuki evaluate`` as a user runs it: several seeds, progress, offline folders, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from anomaly.cli import evaluate
from anomaly.evaluate import START_TS
from anomaly.worst import worst_case
from simulator.fleet import Fleet
from simulator.offline import write_offline

TINY = ["--devices", "12", "--days", "2", "--failure-rate", "0.5"]


def _invoke(*args: str) -> Result:
    app = typer.Typer()
    app.command()(evaluate)
    app.command("noop")(lambda: None)
    return CliRunner().invoke(app, ["evaluate", *args])


def _panel(result: Result) -> str:
    """The output with the usage panel's frame taken out, on one line."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("offline")
    write_offline(Fleet(8, seed=3, failure_rate=0.5, start_ts=START_TS, days=1.0), path)
    return path


def test_seeds_give_a_table_per_seed_and_the_worst_case(tmp_path: Path) -> None:
    out = tmp_path / "ev"
    result = _invoke(
        *TINY, "--seed", "9", "--seeds", "1,2", "--jobs", "1", "--out", str(out), "--no-progress"
    )
    assert result.exit_code == 0, result.output
    assert "seed 1:" in result.stdout and "seed 2:" in result.stdout
    assert "seed 9" not in result.stdout  # --seeds wins
    assert "worst case over seeds 1,2" in result.stdout
    assert result.stdout.count("ETA ratio (predicted/actual), median") == 3
    data = json.loads((out / "scorecard.json").read_text())
    assert data["seeds"] == [1, 2] and [r["run"]["seed"] for r in data["per_seed"]] == [1, 2]
    assert data["summary"]["kizuki"]["recall"] == min(
        r["kizuki"]["recall"] for r in data["per_seed"]
    )
    assert (out / "lead_times.png").read_bytes()[:4] == b"\x89PNG"


def test_one_seed_in_seeds_keeps_the_single_seed_output(tmp_path: Path) -> None:
    result = _invoke(*TINY, "--seeds", "4", "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "seed 4:" in result.stdout and "per failure mode" in result.stdout
    assert "per_seed" not in json.loads((tmp_path / "scorecard.json").read_text())


@pytest.mark.parametrize("seeds", ["a,b", ",", "1,-2"])
def test_bad_seeds_are_a_usage_error(seeds: str, tmp_path: Path) -> None:
    result = _invoke(*TINY, "--seeds", seeds, "--out", str(tmp_path))
    assert result.exit_code == 2 and "--seeds" in result.output


def test_a_detector_setting_is_scored_and_recorded(tmp_path: Path) -> None:
    # a 6-hour warm-up and a level case at 5% of the way: the tiny fleet's 2 days, which
    # the defaults (a 4-day warm-up) leave without a case, get cases, and the scorecard
    # says which settings made it
    plain = _invoke(*TINY, "--seed", "1", "--out", str(tmp_path / "a"), "--no-progress")
    assert plain.exit_code == 0, plain.output
    assert json.loads((tmp_path / "a" / "scorecard.json").read_text())["kizuki"]["cases"] == 0
    assert "stream_settings" not in json.loads((tmp_path / "a" / "scorecard.json").read_text())
    out = tmp_path / "b"
    args = ["--stream", "warmup=36", "--stream", "p-big=0.05"]
    result = _invoke(*TINY, "--seed", "1", *args, "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "detector settings changed from the defaults: warmup=36, p_big=0.05" in result.stdout
    data = json.loads((out / "scorecard.json").read_text())
    assert data["stream_settings"] == {"warmup": 36, "p_big": 0.05}
    assert data["kizuki"]["cases"] > 0


def test_one_benign_change_on_every_healthy_device_is_scored_per_class(tmp_path: Path) -> None:
    # a stress fleet for one class: every healthy device is re-flashed, so the
    # scorecard's firmware row counts all of them (not the dozen of a default fleet)
    args = [*TINY, "--seed", "2", "--benign", "firmware", "--benign-rate", "1"]
    result = _invoke(*args, "--out", str(tmp_path), "--no-progress")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "scorecard.json").read_text())
    healthy = data["run"]["healthy_devices"]
    conditions = data["kizuki"]["by_benign_condition"]
    assert healthy > 0 and conditions["firmware"]["devices"] == healthy
    assert "relocation" not in conditions and "seasonal" not in conditions
    assert data["run"]["benign"] == "firmware" and data["run"]["benign_rate"] == 1.0
    assert f"({healthy} with benign changes: firmware)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benign", "reflash"], "unknown benign kind reflash: choose from relocation"),
        (
            ["--benign", "recalibration", "--confounders", "weather"],
            "recalibration need the replacement confounder",
        ),
        (["--benign-rate", "1.5"], "--benign-rate"),
    ],
)
def test_a_bad_benign_option_is_a_usage_error(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = _invoke(*TINY, *args, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    text = _panel(result)
    assert message in text, text
    assert not (tmp_path / "x").exists(), "nothing is run"


def test_benign_options_with_from_are_refused(folder: Path, tmp_path: Path) -> None:
    # an offline folder holds its own fleet: drawing other benign changes cannot apply
    result = _invoke("--from", str(folder), "--benign", "firmware", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    text = _panel(result)
    assert "the folder's own fleet; leave out --benign" in text, text
    assert not (tmp_path / "x").exists(), "nothing is run"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("no_such=1", "KEY one of warmup"),
        ("warmup", "use KEY=VALUE"),
        ("trend_fit_fast=4.5", "trend_fit_fast takes an integer, not '4.5'"),
        ("t_min=abc", "t_min takes a number"),
        ("t_min=-1", "t_min takes a finite number >= 0"),
        ("t_min=nan", "t_min takes a finite number >= 0"),
    ],
)
def test_a_bad_detector_setting_is_a_usage_error(
    setting: str, message: str, tmp_path: Path
) -> None:
    result = _invoke(*TINY, "--stream", setting, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    text = _panel(result)
    assert "--stream" in text and message in text
    assert not (tmp_path / "x").exists(), "nothing is run"


def test_progress_without_a_terminal_is_plain_lines(tmp_path: Path) -> None:
    result = _invoke(*TINY, "--seed", "1", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("evaluating: ")]
    # confounders on: 5-minute models, so 2 days are 576 ticks of 5 minutes
    assert lines and lines[-1].startswith("evaluating: 576/576 ticks (100%)")
    assert lines[-1].endswith(" s") and "\r" not in result.stderr


def test_from_a_folder_scores_its_fleet(folder: Path, tmp_path: Path) -> None:
    result = _invoke("--from", str(folder), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "8 devices x 1.0 days, seed 3:" in result.stdout
    assert "evaluating: 144/144 ticks (100%)" in result.stderr
    data = json.loads((tmp_path / "scorecard.json").read_text())
    assert data["run"]["source"] == str(folder) and data["kizuki"]["failures"] >= 0


def _copy(folder: Path, to: Path) -> Path:
    to.mkdir()
    for f in folder.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


def _break_manifest(d: Path) -> None:
    (d / "manifest.json").write_text("{not json")


def _drop_devices(d: Path) -> None:
    manifest = orjson.loads((d / "manifest.json").read_bytes())
    del manifest["devices"]
    (d / "manifest.json").write_bytes(orjson.dumps(manifest))


def _bad_reading(d: Path) -> None:
    lines = (d / "readings.jsonl").read_text().splitlines()
    lines[3] = '{"device_id": "x", "ts": '
    (d / "readings.jsonl").write_text("\n".join(lines) + "\n")


def _truncate(d: Path) -> None:
    lines = (d / "readings.jsonl").read_text().splitlines()
    (d / "readings.jsonl").write_text("\n".join(lines[:-5]) + "\n")


def _no_manifest(d: Path) -> None:
    (d / "manifest.json").unlink()


def _no_truth(d: Path) -> None:
    (d / "truth.json").unlink()


@pytest.mark.parametrize(
    "damage,message",
    [
        (_no_manifest, "no manifest.json"),
        (_break_manifest, "malformed JSON in manifest.json"),
        (_drop_devices, "manifest.json lacks 'devices'"),
        (_no_truth, "not a readable offline run"),
        (_bad_reading, "malformed reading 4"),
        (_truncate, "the manifest says"),
    ],
)
def test_a_broken_folder_is_one_line_and_exit_2(folder, tmp_path, damage, message) -> None:
    broken = _copy(folder, tmp_path / "broken")
    damage(broken)
    result = _invoke("--from", str(broken), "--out", str(tmp_path / "ev"), "--no-progress")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kizuki evaluate: ")
    assert message in result.stderr and "Traceback" not in result.output


def test_a_missing_folder_and_from_with_seeds_are_refused(tmp_path: Path) -> None:
    missing = _invoke("--from", str(tmp_path / "nope"), "--out", str(tmp_path), "--no-progress")
    assert missing.exit_code == 2 and "no such folder" in missing.stderr
    both = _invoke("--from", str(tmp_path), "--seeds", "1,2", "--out", str(tmp_path))
    assert both.exit_code == 2 and "--seeds" in both.output


def _card(recall: float, ratio: float | None, false: int = 0) -> dict:
    eta = (
        None
        if ratio is None
        else {
            "with_eta_share": 1.0,
            "abs_error_h_median": 2.0,
            "ratio": {"median": ratio, "p10": ratio, "p90": ratio},
        }
    )
    return {
        "failures": 4,
        "recall": recall,
        "false_cases": false,
        "false_cases_per_1000_device_days": float(false),
        "false_cases_on_benign_change_devices": 0,
        "mode_attributed_right": 1.0,
        "lead_hours": {"median": 5.0 * recall, "p10": 1.0},
        "lead_fraction": {"median": recall / 2, "p10": None},
        "eta": eta,
    }


def test_worst_case_picks_the_worse_value_of_each_figure() -> None:
    worst = worst_case([_card(0.9, 3.0), _card(1.0, 0.2, false=2)])
    assert worst["recall"] == 0.9 and worst["false_cases"] == 2
    assert worst["lead_hours"] == {"median": 4.5, "p10": 1.0}
    assert worst["lead_fraction"] == {"median": 0.45, "p10": None}  # no seed had one
    assert worst["eta"]["ratio"]["median"] == 0.2  # |log 0.2| > |log 3|
    assert worst["eta"]["ratio"]["p10"] == 0.2 and worst["eta"]["ratio"]["p90"] == 3.0
    assert worst_case([_card(1.0, None), _card(0.5, None)])["eta"] is None


def test_readme_section_is_rewritten_between_its_markers(tmp_path: Path) -> None:
    from anomaly.readme import BEGIN, END

    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{BEGIN}\nold figures\n{END}\nafter\n")
    result = _invoke(
        *TINY,
        "--seeds",
        "1,2",
        "--jobs",
        "1",
        "--out",
        str(tmp_path / "ev"),
        "--no-progress",
        "--readme",
        str(readme),
    )
    assert result.exit_code == 0, result.output
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "old figures" not in text
    assert "`kizuki evaluate --devices 12 --days 2.0 --seeds 1,2 --failure-rate 0.5`" in text
    data = json.loads((tmp_path / "ev" / "scorecard.json").read_text())
    assert f"| {data['summary']['kizuki']['recall']:.3f} |" in text
    assert "Per failure shape" in text and "Per benign condition" in text
    bare = tmp_path / "bare.md"
    bare.write_text("no markers\n")
    refused = _invoke(
        *TINY, "--seed", "1", "--out", str(tmp_path / "ev2"), "--no-progress", "--readme", str(bare)
    )
    assert refused.exit_code == 2 and "no scorecard markers" in refused.stderr
