"""Offline scorecard: a simulated fleet through Kizuki and the static-threshold baseline.

Both see the same readings in the same run, and both go through the same case dedup
rule (``scorecard.CaseLedger``); the figures are computed from the fleet's ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from anomaly.bank import BankConfig, DetectorBank
from anomaly.profiles import load_profiles
from anomaly.scorecard import CaseLedger, scorecard
from anomaly.threshold import StaticThreshold

START_TS = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a fixed start keeps runs comparable


@dataclass(frozen=True, slots=True)
class EvalSpec:
    devices: int = 500
    days: float = 30.0
    seed: int = 7
    failure_rate: float = 0.1
    step_s: float = 600.0


def run(
    spec: EvalSpec,
    config: BankConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Simulate, detect, open cases, and return the scorecard of both detectors."""
    from simulator.fleet import Fleet

    fleet = Fleet(spec.devices, spec.seed, spec.failure_rate, START_TS, spec.days, spec.step_s)
    models = {d.device_id: d.model for d in fleet.devices}
    profiles = load_profiles()
    bank = DetectorBank(profiles, models.get, config)
    baseline = StaticThreshold(profiles, models.get)
    ledgers = {"kizuki": CaseLedger(), "baseline": CaseLedger()}
    n_values, spent = 0, 0.0
    for _, readings in fleet.ticks():
        n_values += sum(len(r.metrics) for r in readings)
        t = time.perf_counter()
        ledgers["kizuki"].feed(bank.update(readings))
        spent += time.perf_counter() - t
        ledgers["baseline"].feed(baseline.update(readings))
        if progress is not None:
            progress(1)
    healthy = {d.device_id for d in fleet.devices if d.failure is None}
    benign = {d.device_id for d in fleet.devices if d.failure is None and d.benign}
    truth = fleet.truth()
    result: dict[str, Any] = {
        "run": {"devices": spec.devices, "days": spec.days, "seed": spec.seed,
                "failure_rate": spec.failure_rate, "step_s": spec.step_s,
                "failing_devices": len(truth),
                "failures_noticed_in_run": sum(t.notice_ts is not None for t in truth),
                "healthy_devices": len(healthy), "benign_change_devices": len(benign),
                "metric_values": n_values,
                "kizuki_values_per_s": round(n_values / spent) if spent else None},
        "baseline_rule": "static warning level at 80% of the way from the normal-range "
                         "midpoint to the user-visible limit; one reading past it opens",
    }  # fmt: skip
    for name, ledger in ledgers.items():
        result[name] = scorecard(ledger.cases, truth, healthy, benign, spec.days)
    result["targets"] = targets(result["kizuki"], result["baseline"])
    return result


def targets(k: dict[str, Any], b: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, checked on the figures."""

    def ok(v: Any, f: Callable[[Any], bool]) -> bool | None:
        return None if v is None else f(v)

    kl, bl = k["lead_fraction"]["median"], b["lead_fraction"]["median"]
    return {
        "recall>=0.95": ok(k["recall"], lambda r: r >= 0.95),
        "false_cases<=1_per_1000_device_days": ok(k["false_cases_per_1000_device_days"],
                                                  lambda f: f <= 1.0),
        "median_lead>=0.6_of_window": ok(kl, lambda m: m >= 0.6),
        "lead_better_than_baseline_at_equal_or_fewer_false_cases": None
        if kl is None or bl is None
        else kl > bl and k["false_cases"] <= b["false_cases"],
    }  # fmt: skip


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``scorecard.json`` and ``lead_times.png`` into ``out``."""
    from anomaly.plot import plot_leads

    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / "scorecard.json", out / "lead_times.png"
    json_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    plot_leads(result, png_path)
    return json_path, png_path
