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
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from anomaly.base import AnomalyEvent


@dataclass(frozen=True, slots=True)
class Case:
    device_id: str
    failure_mode: str
    opened_ts: float
    detectors: tuple[str, ...] = ()


class Truth(Protocol):
    device_id: str
    failure_mode: str
    kind: str
    onset_ts: float
    notice_ts: float | None


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
                self.cases.append(Case(e.device_id, e.failure_mode, e.ts, e.why.detectors))


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p10": None}
    arr = np.asarray(values, dtype=float)
    return {
        "median": round(float(np.median(arr)), 4),
        "p10": round(float(np.quantile(arr, 0.1)), 4),
    }


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
        lead = t.notice_ts - first.opened_ts if first else 0.0
        window = max(t.notice_ts - t.onset_ts, 1.0)
        rows.append({"device_id": t.device_id, "mode": t.failure_mode, "kind": t.kind,
                     "detected": first is not None, "lead_h": lead / 3600.0,
                     "lead_frac": lead / window, "window_h": window / 3600.0,
                     "mode_right": first is not None and first.failure_mode == t.failure_mode,
                     })  # fmt: skip
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
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
    }  # fmt: skip


def scorecard(
    cases: list[Case],
    truth: Sequence[Truth],
    healthy_ids: set[str],
    benign_ids: set[str],
    days: float,
) -> dict[str, Any]:
    """Every figure of the scorecard for one detector, from its cases and the truth."""
    rows = _failure_rows(cases, truth)
    false = [c for c in cases if c.device_id in healthy_ids]
    device_days = len(healthy_ids) * days
    out = _summary(rows)
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
        "by_failure_mode": {m: _summary([r for r in rows if r["mode"] == m])
                            for m in sorted({r["mode"] for r in rows})},
        "leads": [{k: r[k] for k in ("device_id", "mode", "detected", "lead_h", "lead_frac")}
                  for r in rows],
    })  # fmt: skip
    return out
