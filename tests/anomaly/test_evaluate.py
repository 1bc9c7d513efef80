"""The scorecard's figures come from real runs and can be recomputed from the truth."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from anomaly.bank import DetectorBank
from anomaly.cli import evaluate
from anomaly.evaluate import START_TS, EvalSpec, run
from anomaly.profiles import load_profiles
from anomaly.scorecard import CaseLedger
from anomaly.threshold import StaticThreshold, warning_level
from simulator.fleet import Fleet

SMALL = EvalSpec(devices=40, days=6.0, seed=3, failure_rate=0.5)


@pytest.fixture(scope="module")
def small_result():
    return run(SMALL)


def _recompute(detector_cls):
    """Replay the same fleet through a detector by hand and count cases."""
    fleet = Fleet(SMALL.devices, SMALL.seed, SMALL.failure_rate, START_TS, SMALL.days)
    models = {d.device_id: d.model for d in fleet.devices}
    det = detector_cls(load_profiles(), models.get)
    ledger = CaseLedger()
    for _, readings in fleet.ticks():
        ledger.feed(det.update(readings))
    return fleet, ledger.cases


@pytest.mark.parametrize("name,cls", [("kizuki", DetectorBank), ("baseline", StaticThreshold)])
def test_figures_match_a_recomputation_from_the_truth(small_result, name, cls):
    fleet, cases = _recompute(cls)
    noticed = [t for t in fleet.truth() if t.notice_ts is not None]
    healthy = {d.device_id for d in fleet.devices if d.failure is None}
    hit = {t.device_id for t in noticed
           if any(c.device_id == t.device_id and t.onset_ts <= c.opened_ts < t.notice_ts
                  for c in cases)}  # fmt: skip
    card = small_result[name]
    assert card["failures"] == len(noticed) > 0
    assert card["detected"] == len(hit)
    assert card["recall"] == round(len(hit) / len(noticed), 4)
    false = [c for c in cases if c.device_id in healthy]
    assert card["false_cases"] == len(false)
    expected_rate = round(1000 * len(false) / (len(healthy) * SMALL.days), 4)
    assert card["false_cases_per_1000_device_days"] == expected_rate
    assert card["cases"] == len(cases)


def test_lead_times_are_notice_minus_first_case(small_result):
    fleet, cases = _recompute(DetectorBank)
    truth = {t.device_id: t for t in fleet.truth() if t.notice_ts is not None}
    for row in small_result["kizuki"]["leads"]:
        t = truth[row["device_id"]]
        mine = [c.opened_ts for c in cases if c.device_id == t.device_id]
        opened = [ts for ts in mine if t.onset_ts <= ts < t.notice_ts]
        lead = (t.notice_ts - min(opened)) / 3600 if opened else 0.0
        assert row["lead_h"] == pytest.approx(lead)
        assert row["lead_frac"] == pytest.approx(lead * 3600 / (t.notice_ts - t.onset_ts))


def test_a_fleet_without_failures_has_no_recall_and_counts_every_case_as_false():
    result = run(EvalSpec(devices=20, days=3.0, seed=5, failure_rate=0.0))
    for name in ("kizuki", "baseline"):
        card = result[name]
        assert card["failures"] == 0 and card["recall"] is None
        assert card["lead_hours"] == {"median": None, "p10": None}
        assert card["false_cases"] == card["cases"]
    assert result["run"]["healthy_devices"] == 20


def test_warning_level_is_80_percent_of_the_way_to_the_limit():
    ac = load_profiles()["aircon-x1"]
    assert warning_level(ac.metrics["cooling_delta_c"]) == pytest.approx(10 - 0.8 * 6)  # down
    assert warning_level(ac.metrics["compressor_current_a"]) == pytest.approx(5.25 + 0.8 * 4.25)


def test_cli_writes_json_and_png(tmp_path):
    app = typer.Typer()
    app.command()(evaluate)
    app.command("noop")(lambda: None)
    out = tmp_path / "ev"
    args = ["evaluate", "--devices", "12", "--days", "2", "--seed", "1", "--out", str(out),
            "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Kizuki" in result.output and "80% threshold" in result.output
    data = json.loads((out / "scorecard.json").read_text())
    assert data["run"]["devices"] == 12 and "kizuki" in data and "baseline" in data
    assert (out / "lead_times.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
