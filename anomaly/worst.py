"""Several seeds' scorecards: each figure's worst case, its spread, and the targets.

Over several seeds, ``worst_case`` keeps each figure's worst value (lowest recall and
lead, most false cases, the ETA ratio farthest from 1, ...), per failure shape the
lowest recall and lead, per benign condition the highest share of devices with a false
case; ``spread`` gives min / median / max of the headline figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from anomaly.scorecard import BASELINE_RULE, NAMES

# How each figure gets worse: lower, higher, or further from 1 (a ratio).
WORST: tuple[tuple[tuple[str, ...], str], ...] = (
    (("recall",), "min"),
    (("false_cases_per_1000_device_days",), "max"),
    (("false_cases",), "max"),
    (("false_cases_on_benign_change_devices",), "max"),
    (("false_cases_before_onset",), "max"),
    (("misattributed_cases",), "max"),
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
SPREAD = (
    ("recall",),
    ("false_cases_per_1000_device_days",),
    ("lead_fraction", "median"),
    ("eta", "ratio", "median"),
)
ETA_BAND = (0.7, 1.4)
BENIGN_MAX_SHARE = 0.02


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
    out["by_shape"] = _per_key(cards, "by_shape")
    out["by_failure_mode"] = _per_key(cards, "by_failure_mode")
    out["by_benign_condition"] = _benign(cards)
    out["spread"] = {".".join(p): _three([figure(c, p) for c in cards]) for p in SPREAD}
    return out


def _three(values: list[Any]) -> dict[str, float] | None:
    got = [float(v) for v in values if v is not None]
    if not got:
        return None
    return {"min": min(got), "median": round(float(np.median(got)), 4), "max": max(got)}


def _per_key(cards: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    names = sorted({n for c in cards for n in c.get(key, {})})
    return {n: worst_case_small([c[key][n] for c in cards if n in c.get(key, {})]) for n in names}


def worst_case_small(cards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Worst recall, lead share and ETA ratio of per-shape or per-mode summaries."""
    out: dict[str, Any] = {"failures": sum(c["failures"] for c in cards)}
    for path, how in WORST:
        if path[0] in ("recall", "lead_fraction", "eta") and path[-1] != "p10":
            values = [v for v in (figure(c, path) for c in cards) if v is not None]
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = _pick(values, how) if values else None
    return out


def _benign(cards: Sequence[dict[str, Any]]) -> dict[str, Any]:
    kinds = sorted({k for c in cards for k in c.get("by_benign_condition", {})})
    out = {}
    for kind in kinds:
        rows = [c["by_benign_condition"][kind] for c in cards if kind in c["by_benign_condition"]]
        shares = [r["share"] for r in rows if r["share"] is not None]
        out[kind] = {
            "devices": sum(r["devices"] for r in rows),
            "with_false_case": sum(r["with_false_case"] for r in rows),
            "share": max(shares) if shares else None,
        }
    return out


def _better(k: dict[str, Any], b: dict[str, Any]) -> bool | None:
    """Kizuki at least as good as the baseline on recall, false cases and lead."""
    pairs = (("recall",), ("lead_fraction", "median"))
    ks = [figure(k, p) for p in pairs]
    bs = [figure(b, p) for p in pairs]
    if None in ks or None in bs:
        return None
    fewer = k["false_cases_per_1000_device_days"] <= b["false_cases_per_1000_device_days"]
    return fewer and all(x >= y for x, y in zip(ks, bs, strict=True))


def targets(k: dict[str, Any], b: dict[str, Any]) -> dict[str, bool | None]:
    """The issue's targets, checked on the figures."""

    def ok(v: Any, f: Callable[[Any], bool]) -> bool | None:
        return None if v is None else f(v)

    shares = [v["share"] for v in k.get("by_benign_condition", {}).values()]
    shares = [s for s in shares if s is not None]
    eta = figure(k, ("eta", "ratio", "median"))
    return {
        "recall>=0.95": ok(k["recall"], lambda r: r >= 0.95),
        "false_cases<=1_per_1000_device_days": ok(
            k["false_cases_per_1000_device_days"], lambda f: f <= 1.0
        ),
        "no_benign_condition_above_2%": max(shares) <= BENIGN_MAX_SHARE if shares else None,
        "median_lead>=0.6_of_window": ok(k["lead_fraction"]["median"], lambda m: m >= 0.6),
        "median_eta_ratio_in_0.7..1.4": ok(eta, lambda r: ETA_BAND[0] <= r <= ETA_BAND[1]),
        "better_than_baseline": _better(k, b),
    }


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed results and the summary: each figure's worst case, targets checked on it.

    The comparison with the baseline has to hold in every seed.
    """
    summary: dict[str, Any] = {name: worst_case([r[name] for r in results]) for name in NAMES}
    summary["targets"] = targets(summary["kizuki"], summary["baseline"])
    key = "better_than_baseline"
    each = [r["targets"][key] for r in results]
    summary["targets"][key] = None if None in each else all(each)
    return {
        "seeds": [r["run"]["seed"] for r in results],
        "per_seed": results,
        "summary": summary,
        "baseline_rule": BASELINE_RULE,
    }
