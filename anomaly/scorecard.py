"""Cases from anomaly events (the dedup rule) and the figures computed from the truth.

Dedup rule (the same for Kizuki and the baseline): one case per (device, failure mode)
while it is open; a recovery event closes it; a later anomaly opens a new case.

Figures:

- recall: failing devices (failures that reach the user-visible limit inside the run)
  with a case opened in [onset, notice) that names the failure mode really developing
  or a documented neighbour of it (``neighbours``: a mode with the same primary metric,
  which a service visit for either would find); a case naming another mode does not
  count, and unless it names another failure of the same device that has begun (a
  second fault) it is reported as ``misattributed``;
- false cases per 1,000 healthy device-days: cases on devices without an injected
  failure (benign changes included) and cases on failing devices opened before the
  failure's onset, over the healthy device-days (a failing device's days before its
  onset count as healthy);
- per benign condition (``benign.json`` kinds: weather, power cuts, revision B, ...):
  the share of the healthy devices with that condition that got a false case;
- lead time: notice - first case in [onset, notice), in hours and as a fraction of
  notice - onset. Median and 10th percentile over *all* noticed failures, a missed
  failure counting as zero lead (so a detector cannot look better by missing more).
- per failure mode and per failure shape (``variant``): recall, lead and ETA figures;
- ETA quality, at each detected failure's first case: the predicted time to the
  user-visible limit (``eta_ts - opened_ts``) against the actual time to the notice
  (``notice_ts - opened_ts``, the lead): the ratio predicted/actual (median, p10, p90),
  the share of first cases that carry an ETA and the median absolute error in hours.
  ``None`` for a detector that gives no ETA (the baseline).

Over several seeds, ``worst_case`` keeps each figure's worst value (lowest recall and
lead, most false cases, the ETA ratio farthest from 1, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from core.events import AnomalyEvent
from core.profiles import DeviceProfile

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
    @property
    def variant(self) -> str: ...


Accept = Callable[[Truth], Collection[str]]  # modes whose case counts as a detection


def neighbours(profiles: Mapping[str, DeviceProfile]) -> dict[str, frozenset[str]]:
    """Per failure mode, the modes whose case counts for it: itself, and the modes of the
    same product model whose primary metric is the same (a visit for one finds the other).
    """
    out: dict[str, frozenset[str]] = {}
    for profile in profiles.values():
        for name, mode in profile.failure_modes.items():
            same = {n for n, m in profile.failure_modes.items() if m.metric == mode.metric}
            out[name] = frozenset(same | {name})
    return out


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


def _failure_rows(
    cases: list[Case], truth: Sequence[Truth], accept: Accept
) -> tuple[list[dict[str, Any]], int]:
    """One row per noticed failure; also how many in-window cases named a mode that no
    failure of the device that had begun by then explains."""
    by_device: dict[str, list[Case]] = {}
    for c in cases:
        by_device.setdefault(c.device_id, []).append(c)
    faults: dict[str, list[Truth]] = {}
    for t in truth:
        faults.setdefault(t.device_id, []).append(t)

    def begun(c: Case) -> bool:  # a failure of the device under way names it
        return any(
            u.onset_ts <= c.opened_ts and c.failure_mode in accept(u) for u in faults[c.device_id]
        )

    rows: list[dict[str, Any]] = []
    wrong: set[Case] = set()
    for t in truth:
        if t.notice_ts is None:
            continue
        inside = [
            c for c in by_device.get(t.device_id, []) if t.onset_ts <= c.opened_ts < t.notice_ts
        ]
        ok = accept(t)
        hits = [c for c in inside if c.failure_mode in ok]
        wrong.update(c for c in inside if not begun(c))  # a hit's failure has begun
        first = min(hits, key=lambda c: c.opened_ts) if hits else None
        rows.append(_row(t, t.notice_ts, first))
    return rows, len(wrong)


def _row(t: Truth, notice_ts: float, first: Case | None) -> dict[str, Any]:
    lead = notice_ts - first.opened_ts if first else 0.0
    window = max(notice_ts - t.onset_ts, 1.0)
    eta = first.eta_ts - first.opened_ts if first and first.eta_ts is not None else None
    return {
        "device_id": t.device_id,
        "mode": t.failure_mode,
        "kind": t.kind,
        "shape": t.variant or t.kind,
        "detected": first is not None,
        "lead_h": lead / 3600.0,
        "lead_frac": lead / window,
        "window_h": window / 3600.0,
        "mode_right": first is not None and first.failure_mode == t.failure_mode,
        "eta_h": None if eta is None else eta / 3600.0,
    }


def _eta(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ETA at the first case vs the actual time to the notice (the lead)."""
    first = [r for r in rows if r["detected"]]
    given = [r for r in first if r["eta_h"] is not None]
    return {
        "first_cases": len(first),
        "with_eta": len(given),
        "with_eta_share": round(len(given) / len(first), 4) if first else None,
        "ratio": _spread([r["eta_h"] / r["lead_h"] for r in given]),
        "abs_error_h_median": round(
            float(np.median([abs(r["eta_h"] - r["lead_h"]) for r in given])), 4
        )
        if given
        else None,
    }


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
        if detected
        else None,
        "eta": _eta(rows) if eta else None,
    }


@dataclass(frozen=True, slots=True)
class Population:
    """Who is healthy, since when, and with which benign conditions."""

    healthy_ids: set[str]
    benign_ids: set[str]  # healthy devices with a benign change (relocation, ...)
    days: float
    start_ts: float = 0.0
    conditions: Mapping[str, Collection[str]] = field(default_factory=dict)  # kind -> ids
    accept: Accept = lambda t: (t.failure_mode,)


def _onsets(truth: Sequence[Truth]) -> dict[str, float]:
    """Each failing device's first onset (a device may have two faults)."""
    onset: dict[str, float] = {}
    for t in truth:
        onset[t.device_id] = min(t.onset_ts, onset.get(t.device_id, np.inf))
    return onset


def _false_cases(cases: list[Case], truth: Sequence[Truth], pop: Population) -> list[Case]:
    """Cases on healthy devices, and cases on failing devices before their first onset."""
    onset = _onsets(truth)
    return [
        c
        for c in cases
        if c.device_id in pop.healthy_ids or c.opened_ts < onset.get(c.device_id, -np.inf)
    ]


def _healthy_days(truth: Sequence[Truth], pop: Population) -> float:
    before = sum(max(0.0, t - pop.start_ts) for t in _onsets(truth).values()) / 86400.0
    return len(pop.healthy_ids) * pop.days + before


def _by_condition(false: list[Case], pop: Population) -> dict[str, dict[str, Any]]:
    """Per benign condition: healthy devices with it, how many got a false case, share."""
    hit = {c.device_id for c in false if c.device_id in pop.healthy_ids}
    out = {}
    for kind, ids in sorted(pop.conditions.items()):
        devices = set(ids) & pop.healthy_ids
        n = len(devices & hit)
        out[kind] = {
            "devices": len(devices),
            "with_false_case": n,
            "share": round(n / len(devices), 4) if devices else None,
        }
    return out


def scorecard(
    cases: list[Case], truth: Sequence[Truth], pop: Population, eta: bool = True
) -> dict[str, Any]:
    """Every figure of the scorecard for one detector, from its cases and the truth.

    ``eta=False`` for a detector that predicts no time to the limit: its ETA is None.
    """
    rows, wrong = _failure_rows(cases, truth, pop.accept)
    false = _false_cases(cases, truth, pop)
    device_days = _healthy_days(truth, pop)
    out = _summary(rows, eta)
    out.update(
        {
            "cases": len(cases),
            "false_cases": len(false),
            "false_cases_before_onset": sum(c.device_id not in pop.healthy_ids for c in false),
            "false_cases_on_benign_change_devices": sum(
                c.device_id in pop.benign_ids for c in false
            ),
            "misattributed_cases": wrong,
            "by_benign_condition": _by_condition(false, pop),
            "healthy_device_days": round(device_days, 2),
            "false_cases_per_1000_device_days": round(1000.0 * len(false) / device_days, 4)
            if device_days
            else None,
            "false_case_list": [
                {
                    "device_id": c.device_id,
                    "mode": c.failure_mode,
                    "opened_ts": c.opened_ts,
                    "detectors": list(c.detectors),
                    "eta_h": None
                    if c.eta_ts is None
                    else round((c.eta_ts - c.opened_ts) / 3600.0, 1),
                }
                for c in false
            ],
            "by_failure_mode": {
                m: _summary([r for r in rows if r["mode"] == m], eta)
                for m in sorted({r["mode"] for r in rows})
            },
            "by_shape": {
                v: _summary([r for r in rows if r["shape"] == v], eta)
                for v in sorted({r["shape"] for r in rows})
            },
            "leads": [
                {
                    k: r[k]
                    for k in (
                        "device_id",
                        "mode",
                        "shape",
                        "detected",
                        "lead_h",
                        "lead_frac",
                        "eta_h",
                    )
                }
                for r in rows
            ],
        }
    )
    return out
