"""Cases from anomaly events (the dedup rule) and the figures computed from the truth.

Dedup rule (the same for Kizuki and the baseline): one case per (device, failure mode)
while it is open; a recovery event closes it; a later anomaly opens a new case.

Figures:

- recall: failing devices (failures that reach the user-visible limit inside the run)
  with a case opened in [onset, notice);
- false cases per 1,000 device-days: cases on devices without an injected failure
  (benign changes included), over their device-days;
- lead time: notice - first case in [onset, notice), in hours and as a fraction of
  notice - onset. Median and 10th percentile over *all* noticed failures, a missed
  failure counting as zero lead (so a detector cannot look better by missing more).
- ETA quality, at each detected failure's first case: the predicted time to the
  user-visible limit (``eta_ts - opened_ts``) against the actual time to the notice
  (``notice_ts - opened_ts``, the lead): the ratio predicted/actual (median, p10, p90),
  the share of first cases that carry an ETA and the median absolute error in hours.
  ``None`` for a detector that gives no ETA (the baseline).

Over several seeds, ``worst_case`` keeps each figure's worst value (lowest recall and
lead, most false cases, the ETA ratio farthest from 1, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from core.events import AnomalyEvent

NAMES = ("kizuki", "baseline")
BASELINE_RULE = (
    "static warning level at 80% of the way from the normal-range midpoint to the "
    "user-visible limit; one reading past it opens"
)


@dataclass(frozen=True, slots=True)
class Case:
    device_id: str
    failure_mode: str
    opened_ts: float
    detectors: tuple[str, ...] = ()
    eta_ts: float | None = None  # the opening event's predicted time to the limit


class Truth(Protocol):
    """What the scorecard reads of one injected failure (read-only, as the simulator's)."""

    @property
    def device_id(self) -> str: ...
    @property
    def failure_mode(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def onset_ts(self) -> float: ...
    @property
    def notice_ts(self) -> float | None: ...


class CaseLedger:
    """Applies the dedup rule to a stream of events and keeps every case opened."""

    def __init__(self) -> None:
        self.cases: list[Case] = []
        self._open: set[tuple[str, str]] = set()

    def feed(self, events: Iterable[AnomalyEvent]) -> None:
        for e in events:
            key = (e.device_id, e.failure_mode)
            if e.kind == "recovery":
                self._open.discard(key)
            elif key not in self._open:
                self._open.add(key)
                why = e.why
                self.cases.append(
                    Case(e.device_id, e.failure_mode, e.ts, why.detectors, why.eta_ts)
                )


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p10": None}
    arr = np.asarray(values, dtype=float)
    return {
        "median": round(float(np.median(arr)), 4),
        "p10": round(float(np.quantile(arr, 0.1)), 4),
    }


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    """Median, p10 and p90 (``None`` without values)."""
    p90 = round(float(np.quantile(np.asarray(values, dtype=float), 0.9)), 4) if values else None
    return {**_stats(values), "p90": p90}


def _failure_rows(cases: list[Case], truth: Sequence[Truth]) -> list[dict[str, Any]]:
    by_device: dict[str, list[Case]] = {}
    for c in cases:
        by_device.setdefault(c.device_id, []).append(c)
    rows = []
    for t in truth:
        if t.notice_ts is None:
            continue
        hits = [
            c for c in by_device.get(t.device_id, []) if t.onset_ts <= c.opened_ts < t.notice_ts
        ]
        first = min(hits, key=lambda c: c.opened_ts) if hits else None
        rows.append(_row(t, t.notice_ts, first))
    return rows


def _row(t: Truth, notice_ts: float, first: Case | None) -> dict[str, Any]:
    lead = notice_ts - first.opened_ts if first else 0.0
    window = max(notice_ts - t.onset_ts, 1.0)
    eta = first.eta_ts - first.opened_ts if first and first.eta_ts is not None else None
    return {"device_id": t.device_id, "mode": t.failure_mode, "kind": t.kind,
            "detected": first is not None, "lead_h": lead / 3600.0,
            "lead_frac": lead / window, "window_h": window / 3600.0,
            "mode_right": first is not None and first.failure_mode == t.failure_mode,
            "eta_h": None if eta is None else eta / 3600.0}  # fmt: skip


def _eta(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ETA at the first case vs the actual time to the notice (the lead)."""
    first = [r for r in rows if r["detected"]]
    given = [r for r in first if r["eta_h"] is not None]
    return {
        "first_cases": len(first),
        "with_eta": len(given),
        "with_eta_share": round(len(given) / len(first), 4) if first else None,
        "ratio": _spread([r["eta_h"] / r["lead_h"] for r in given]),
        "abs_error_h_median": round(float(np.median([abs(r["eta_h"] - r["lead_h"])
                                                     for r in given])), 4)
        if given else None,
    }  # fmt: skip


def _summary(rows: list[dict[str, Any]], eta: bool) -> dict[str, Any]:
    n = len(rows)
    detected = sum(r["detected"] for r in rows)
    return {
        "failures": n,
        "detected": detected,
        "recall": round(detected / n, 4) if n else None,
        "lead_hours": _stats([r["lead_h"] for r in rows]),
        "lead_fraction": _stats([r["lead_frac"] for r in rows]),
        "mode_attributed_right": round(sum(r["mode_right"] for r in rows) / detected, 4)
        if detected else None,
        "eta": _eta(rows) if eta else None,
    }  # fmt: skip


def scorecard(
    cases: list[Case],
    truth: Sequence[Truth],
    healthy_ids: set[str],
    benign_ids: set[str],
    days: float,
    eta: bool = True,
) -> dict[str, Any]:
    """Every figure of the scorecard for one detector, from its cases and the truth.

    ``eta=False`` for a detector that predicts no time to the limit: its ETA is None.
    """
    rows = _failure_rows(cases, truth)
    false = [c for c in cases if c.device_id in healthy_ids]
    device_days = len(healthy_ids) * days
    out = _summary(rows, eta)
    out.update({
        "cases": len(cases),
        "false_cases": len(false),
        "false_cases_on_benign_change_devices": sum(c.device_id in benign_ids for c in false),
        "healthy_device_days": round(device_days, 2),
        "false_cases_per_1000_device_days": round(1000.0 * len(false) / device_days, 4)
        if device_days else None,
        "false_case_list": [{"device_id": c.device_id, "mode": c.failure_mode,
                             "opened_ts": c.opened_ts, "detectors": list(c.detectors)}
                            for c in false],
        "by_failure_mode": {m: _summary([r for r in rows if r["mode"] == m], eta)
                            for m in sorted({r["mode"] for r in rows})},
        "leads": [{k: r[k] for k in ("device_id", "mode", "detected", "lead_h", "lead_frac",
                                     "eta_h")}
                  for r in rows],
    })  # fmt: skip
    return out


# How each figure gets worse: lower, higher, or further from 1 (a ratio).
WORST: tuple[tuple[tuple[str, ...], str], ...] = (
    (("recall",), "min"),
    (("false_cases_per_1000_device_days",), "max"),
    (("false_cases",), "max"),
    (("false_cases_on_benign_change_devices",), "max"),
    (("lead_hours", "median"), "min"),
    (("lead_hours", "p10"), "min"),
    (("lead_fraction", "median"), "min"),
    (("lead_fraction", "p10"), "min"),
    (("mode_attributed_right",), "min"),
    (("eta", "with_eta_share"), "min"),
    (("eta", "ratio", "median"), "far"),
    (("eta", "ratio", "p10"), "min"),
    (("eta", "ratio", "p90"), "max"),
    (("eta", "abs_error_h_median"), "max"),
)


def figure(card: dict[str, Any], path: tuple[str, ...]) -> Any:
    """``card[path[0]][path[1]]...``, ``None`` where a level is missing or ``None``."""
    value: Any = card
    for key in path:
        value = None if value is None else value.get(key)
    return value


def _from_one(value: float) -> float:
    return abs(float(np.log(value))) if value > 0 else float("inf")


def _pick(values: list[float], how: str) -> float:
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    return max(values, key=_from_one)


def worst_case(cards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's worst value over ``cards`` (one per seed), shaped like a card.

    Seeds without a value (no failure, no ETA) are left out; ``None`` when none has one.
    """
    out: dict[str, Any] = {"seeds": len(cards), "failures": sum(c["failures"] for c in cards)}
    for path, how in WORST:
        values = [v for v in (figure(c, path) for c in cards) if v is not None]
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = _pick(values, how) if values else None
    if all(c["eta"] is None for c in cards):
        out["eta"] = None
    return out


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


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed results and the summary: each figure's worst case, targets checked on it.

    The comparison with the baseline has to hold in every seed.
    """
    summary: dict[str, Any] = {name: worst_case([r[name] for r in results]) for name in NAMES}
    summary["targets"] = targets(summary["kizuki"], summary["baseline"])
    key = "lead_better_than_baseline_at_equal_or_fewer_false_cases"
    each = [r["targets"][key] for r in results]
    summary["targets"][key] = None if None in each else all(each)
    return {"seeds": [r["run"]["seed"] for r in results], "per_seed": results,
            "summary": summary, "baseline_rule": BASELINE_RULE}  # fmt: skip
