"""The scorecard's figures come from real runs and can be recomputed from the truth.

The recomputation replays the same fleets through both detectors and applies the dedup
rule itself (no ``CaseLedger``, no ``scorecard`` helpers), so a bug there shows here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import typer
from typer.testing import CliRunner

from anomaly.bank import DetectorBank
from anomaly.cli import evaluate
from anomaly.evaluate import START_TS, EvalSpec, run, run_seeds
from anomaly.threshold import StaticThreshold, warning_level
from core.events import AnomalyEvent
from core.profiles import load_profiles
from simulator.cli import simulate
from simulator.fleet import Fleet

SMALL = EvalSpec(devices=60, days=12.0, failure_rate=0.3, confounders="none")
SEEDS = (1, 2)
DETECTORS = {"kizuki": DetectorBank, "baseline": StaticThreshold}


@dataclass(frozen=True)
class Opened:
    device_id: str
    mode: str
    ts: float
    eta_ts: float | None


@pytest.fixture(scope="module")
def multi() -> dict[str, Any]:
    return run_seeds(SMALL, SEEDS, jobs=2)  # two processes


@pytest.fixture(scope="module")
def replays() -> dict[int, tuple[Fleet, dict[str, list[Opened]]]]:
    """Per seed: the fleet and, per detector, every case it opened (dedup applied here)."""
    out = {}
    for seed in SEEDS:
        fleet = Fleet(SMALL.devices, seed, SMALL.failure_rate, START_TS, SMALL.days)
        models = {d.device_id: d.model for d in fleet.devices}
        dets = {
            "kizuki": DetectorBank(load_profiles(), models.get, cohort=fleet.cohorts().get),
            "baseline": StaticThreshold(load_profiles(), models.get),
        }
        events: dict[str, list[AnomalyEvent]] = {name: [] for name in dets}
        for _, readings in fleet.ticks():
            for name, det in dets.items():
                events[name] += det.update(readings)
        out[seed] = fleet, {name: _open_cases(evs) for name, evs in events.items()}
    return out


def _open_cases(events: list[AnomalyEvent]) -> list[Opened]:
    """One case per (device, failure mode) while open; a recovery closes it."""
    cases, open_now = [], set()
    for e in events:
        key = (e.device_id, e.failure_mode)
        if e.kind == "recovery":
            open_now.discard(key)
        elif key not in open_now:
            open_now.add(key)
            cases.append(Opened(e.device_id, e.failure_mode, e.ts, e.why.eta_ts))
    return cases


def _accepted(fleet: Fleet, model: str, mode: str) -> set[str]:
    """The mode, and the modes of the same model with the same primary metric."""
    modes = fleet.profiles[model].failure_modes
    return {m for m, spec in modes.items() if spec.metric == modes[mode].metric}


def _first_cases(fleet: Fleet, cases: list[Opened]) -> dict[str, Opened | None]:
    """Per noticed failure: the earliest case in [onset, notice) naming its mode (or a
    mode with the same primary metric)."""
    first: dict[str, Opened | None] = {}
    for t in fleet.truth():
        if t.notice_ts is None:
            continue
        ok = _accepted(fleet, t.model, t.failure_mode)
        hits = [
            c
            for c in cases
            if c.device_id == t.device_id and c.mode in ok and t.onset_ts <= c.ts < t.notice_ts
        ]
        first[t.device_id] = min(hits, key=lambda c: c.ts) if hits else None
    return first


@pytest.mark.parametrize("name", list(DETECTORS))
@pytest.mark.parametrize("seed", SEEDS)
def test_figures_match_a_recomputation_from_the_truth(multi, replays, seed, name):
    fleet, by_detector = replays[seed]
    cases = by_detector[name]
    card = multi["per_seed"][SEEDS.index(seed)][name]
    first = _first_cases(fleet, cases)
    hit = [d for d, c in first.items() if c is not None]
    assert card["failures"] == len(first) > 0
    assert card["detected"] == len(hit) > 0
    assert card["recall"] == round(len(hit) / len(first), 4)
    healthy = {d.device_id for d in fleet.devices if d.failure is None}
    onset = {t.device_id: t.onset_ts for t in fleet.truth()}
    false = [c for c in cases if c.device_id in healthy or c.ts < onset[c.device_id]]
    assert card["false_cases"] == len(false)
    assert card["false_cases_before_onset"] == sum(c.device_id not in healthy for c in false)
    days = len(healthy) * SMALL.days + sum(t - START_TS for t in onset.values()) / 86400
    expected_rate = round(1000 * len(false) / days, 4)
    assert card["false_cases_per_1000_device_days"] == expected_rate
    assert card["cases"] == len(cases)
    listed = {(c["device_id"], c["opened_ts"]): c["eta_h"] for c in card["false_case_list"]}
    assert listed == {
        (c.device_id, c.ts): None if c.eta_ts is None else round((c.eta_ts - c.ts) / 3600, 1)
        for c in false
    }, "each false case with the time to the limit its opening event gave"


@pytest.mark.parametrize("seed", SEEDS)
def test_lead_times_are_notice_minus_first_case(multi, replays, seed):
    fleet, by_detector = replays[seed]
    truth = {t.device_id: t for t in fleet.truth()}
    for name in DETECTORS:
        first = _first_cases(fleet, by_detector[name])
        rows = multi["per_seed"][SEEDS.index(seed)][name]["leads"]
        assert {r["device_id"] for r in rows} == set(first)
        for row in rows:
            t, c = truth[row["device_id"]], first[row["device_id"]]
            lead = t.notice_ts - c.ts if c else 0.0
            assert row["detected"] == (c is not None)
            assert row["lead_h"] == pytest.approx(lead / 3600)
            assert row["lead_frac"] == pytest.approx(lead / (t.notice_ts - t.onset_ts))
        fracs = [
            (t.notice_ts - c.ts) / (t.notice_ts - t.onset_ts) if c else 0.0
            for d, c in first.items()
            for t in [truth[d]]
        ]
        card = multi["per_seed"][SEEDS.index(seed)][name]
        assert card["lead_fraction"]["median"] == pytest.approx(np.median(fracs), abs=1e-4)


@pytest.mark.parametrize("seed", SEEDS)
def test_eta_figures_are_predicted_over_actual_time_to_the_notice(multi, replays, seed):
    fleet, by_detector = replays[seed]
    truth = {t.device_id: t for t in fleet.truth()}
    first = [c for c in _first_cases(fleet, by_detector["kizuki"]).values() if c is not None]
    given = [c for c in first if c.eta_ts is not None]
    predicted = np.array([(c.eta_ts - c.ts) / 3600 for c in given])
    actual = np.array([(truth[c.device_id].notice_ts - c.ts) / 3600 for c in given])
    eta = multi["per_seed"][SEEDS.index(seed)]["kizuki"]["eta"]
    assert eta["first_cases"] == len(first) and eta["with_eta"] == len(given) > 0
    assert eta["with_eta_share"] == pytest.approx(len(given) / len(first), abs=1e-4)
    ratio = predicted / actual
    for key, q in (("median", 0.5), ("p10", 0.1), ("p90", 0.9)):
        assert eta["ratio"][key] == pytest.approx(np.quantile(ratio, q), abs=1e-4)
    error = np.median(np.abs(predicted - actual))
    assert eta["abs_error_h_median"] == pytest.approx(error, abs=1e-4)
    assert multi["per_seed"][SEEDS.index(seed)]["baseline"]["eta"] is None


def test_summary_is_the_worst_case_of_the_seeds(multi):
    runs, summary = multi["per_seed"], multi["summary"]
    assert multi["seeds"] == list(SEEDS) and [r["run"]["seed"] for r in runs] == list(SEEDS)
    for name in DETECTORS:
        cards, worst = [r[name] for r in runs], summary[name]
        assert worst["recall"] == min(c["recall"] for c in cards)
        assert worst["false_cases_per_1000_device_days"] == max(
            c["false_cases_per_1000_device_days"] for c in cards
        )
        assert worst["false_cases"] == max(c["false_cases"] for c in cards)
        for fig in ("lead_hours", "lead_fraction"):
            for key in ("median", "p10"):
                assert worst[fig][key] == min(c[fig][key] for c in cards)
    ratios = [r["kizuki"]["eta"]["ratio"]["median"] for r in runs]
    far = max(ratios, key=lambda v: abs(np.log(v)) if v > 0 else np.inf)
    assert summary["kizuki"]["eta"]["ratio"]["median"] == far
    assert summary["baseline"]["eta"] is None
    k = summary["kizuki"]
    assert summary["targets"]["recall>=0.95"] == (k["recall"] >= 0.95)
    assert summary["targets"]["median_lead>=0.6_of_window"] == (k["lead_fraction"]["median"] >= 0.6)


def test_from_an_offline_folder_gives_the_in_memory_figures(multi, tmp_path):
    app = typer.Typer()
    app.command()(simulate)
    app.command()(evaluate)
    folder, out = tmp_path / "sim", tmp_path / "ev"
    fleet_args = [
        "--devices",
        str(SMALL.devices),
        "--days",
        str(SMALL.days),
        "--seed",
        "1",
        "--failure-rate",
        str(SMALL.failure_rate),
    ]
    made = CliRunner().invoke(
        app, ["simulate", *fleet_args, "--offline", str(folder), "--start", str(START_TS)]
    )
    assert made.exit_code == 0, made.output
    scored = CliRunner().invoke(
        app, ["evaluate", "--from", str(folder), "--out", str(out), "--no-progress"]
    )
    assert scored.exit_code == 0, scored.output
    assert "seed 1:" in scored.output and "ETA ratio (predicted/actual), median" in scored.output
    data = json.loads((out / "scorecard.json").read_text())
    memory = orjson.loads(orjson.dumps(multi["per_seed"][0]))  # tuples as JSON lists
    for name in DETECTORS:
        assert data[name] == memory[name]
    assert data["targets"] == memory["targets"]
    assert data["run"]["source"] == str(folder)


def test_a_fleet_without_failures_has_no_recall_and_counts_every_case_as_false():
    result = run(EvalSpec(devices=20, days=3.0, seed=5, failure_rate=0.0))
    for name in ("kizuki", "baseline"):
        card = result[name]
        assert card["failures"] == 0 and card["recall"] is None
        assert card["lead_hours"] == {"median": None, "p10": None}
        assert card["false_cases"] == card["cases"]
    assert result["kizuki"]["eta"]["with_eta_share"] is None
    assert result["run"]["healthy_devices"] == 20


def test_warning_level_is_80_percent_of_the_way_to_the_limit():
    ac = load_profiles()["aircon-x1"]
    assert warning_level(ac.metrics["cooling_delta_c"]) == pytest.approx(10 - 0.8 * 6)  # down
    assert warning_level(ac.metrics["compressor_current_a"]) == pytest.approx(5.25 + 0.8 * 4.25)


def test_sequential_seeds_give_the_same_figures_as_single_runs():
    spec = replace(SMALL, devices=10, days=2.0)
    both = run_seeds(spec, [4, 5], jobs=1)
    for seed, result in zip((4, 5), both["per_seed"], strict=True):
        alone = run(replace(spec, seed=seed))
        assert result["kizuki"] == alone["kizuki"] and result["baseline"] == alone["baseline"]


def test_cli_writes_json_and_png(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(evaluate)
    app.command("noop")(lambda: None)
    out = tmp_path / "ev"
    args = [
        "evaluate",
        "--devices",
        "12",
        "--days",
        "2",
        "--seed",
        "1",
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Kizuki" in result.output and "80% threshold" in result.output
    assert "per failure mode" in result.output and "worst case" not in result.output
    data = json.loads((out / "scorecard.json").read_text())
    assert data["run"]["devices"] == 12 and "kizuki" in data and "baseline" in data
    assert "per_seed" not in data
    assert (out / "lead_times.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
