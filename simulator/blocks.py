"""Build the per-model arrays of a fleet and trace where failures cross their limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.profiles import DeviceProfile
from simulator.benign import BenignChange, draw_benign
from simulator.failures import RAIL_SEVERITY, FailurePlan, severity, stuck_readings
from simulator.signals import FailureArrays, ModelBlock, Realism

TRACE_CHUNK = 256


def build_block(
    rng: np.random.Generator,
    profile: DeviceProfile,
    device_ids: Sequence[str],
    utc_offsets_h: Sequence[float],
    plans: Sequence[FailurePlan | None],
    benign: Sequence[bool],
    grid: tuple[float, float, float],
    realism: Realism,
) -> tuple[ModelBlock, dict[int, tuple[BenignChange, ...]]]:
    """Arrays for the devices of one model; also each row's benign changes."""
    start, end, step = grid
    names = tuple(profile.metrics)
    specs = [profile.metrics[m] for m in names]
    n = len(device_ids)
    lo = np.array([s.normal[0] for s in specs])
    hi = np.array([s.normal[1] for s in specs])
    level = lo + (0.2 + 0.6 * rng.random((n, len(names)))) * (hi - lo)
    amplitude = np.array([s.daily_amplitude for s in specs]) * rng.uniform(0.8, 1.2, (n, 1))
    sigma = np.array([s.noise for s in specs]) * rng.uniform(0.8, 1.3, (n, len(names)))
    # Peak load mid-afternoon local time, give or take an hour.
    phase = 2 * np.pi * (np.asarray(utc_offsets_h) - 9.0) / 24.0 + rng.normal(0, 0.25, n)
    valid = np.array([s.valid or (-np.inf, np.inf) for s in specs], dtype=float).T
    changes = {
        r: draw_benign(rng, profile, dict(zip(names, level[r], strict=True)), (start, end))
        for r in range(n)
        if benign[r]
    }
    benign_table = np.array(
        [(r, names.index(c.metric), c.start_ts, c.end_ts, c.shift)
         for r, cs in changes.items() for c in cs],
        dtype=float,
    ).reshape(-1, 5)  # fmt: skip
    n_ticks = int(round((end - start) / step))
    t_all = start + np.arange(n_ticks) * step
    block = ModelBlock(
        model=profile.model,
        device_ids=tuple(device_ids),
        metrics=names,
        start_ts=start,
        step_s=step,
        level=level,
        amplitude=amplitude,
        phase=phase,
        sigma=sigma,
        valid=valid,
        benign=benign_table,
        failures=_failure_arrays(profile, names, level, plans, t_all),
        outages=_outages(rng, n, start, end, realism),
    )
    return block, changes


def _failure_arrays(
    profile: DeviceProfile,
    names: tuple[str, ...],
    level: np.ndarray,
    plans: Sequence[FailurePlan | None],
    t_all: np.ndarray,
) -> FailureArrays:
    mids = np.array([sum(profile.metrics[m].normal) / 2 for m in names])
    span = np.array([profile.metrics[m].limit for m in names]) - mids
    planned = [(r, p) for r, p in enumerate(plans) if p is not None]
    rows = [r for r, _ in planned]
    effect = np.zeros((len(rows), len(names)))
    sev = np.zeros((len(rows), len(t_all)), dtype=np.float32)
    stuck_rows, stuck_cols, stuck_values = [], [], []
    for j, (r, plan) in enumerate(planned):
        mode = profile.failure_modes[plan.mode]
        for metric, frac in mode.effects.items():
            effect[j, names.index(metric)] = frac * span[names.index(metric)]
        sev[j] = severity(plan, t_all)
        if plan.variant == "stuck":
            col = names.index(mode.metric)
            rail = mids[col] + RAIL_SEVERITY * span[col]
            stuck_rows.append(r)
            stuck_cols.append(col)
            stuck_values.append(stuck_readings(plan, t_all, float(level[r, col]), rail))
    return FailureArrays(
        rows=np.array(rows, dtype=int),
        effect=effect,
        severity=sev,
        stuck_rows=np.array(stuck_rows, dtype=int),
        stuck_cols=np.array(stuck_cols, dtype=int),
        stuck_values=np.array(stuck_values, dtype=float).reshape(len(stuck_rows), len(t_all)),
    )


def _outages(
    rng: np.random.Generator, n: int, start: float, end: float, realism: Realism
) -> np.ndarray:
    """One connectivity outage for a share of the devices: (row, start, end)."""
    rows = np.flatnonzero(rng.random(n) < realism.outage_share)
    begin = rng.uniform(start, end, len(rows))
    hours = rng.uniform(*realism.outage_hours, len(rows))
    return np.column_stack([rows, begin, begin + hours * 3600.0]).reshape(-1, 3)


def first_breach(
    block: ModelBlock,
    profile: DeviceProfile,
    plans: Mapping[int, FailurePlan],
    index: Mapping[str, int],
) -> dict[str, float | None]:
    """For each failing device of ``block``: first tick its primary metric hits the limit."""
    failing = block.failures.rows
    ks = np.arange(block.failures.severity.shape[1])
    out: dict[str, float | None] = {}
    for at in range(0, len(failing), TRACE_CHUNK):
        rows = failing[at : at + TRACE_CHUNK]
        values = block.subset(rows).underlying(ks)  # (T, r, m)
        for j, row in enumerate(rows):
            device_id = block.device_ids[row]
            spec_name = profile.failure_modes[plans[index[device_id]].mode].metric
            spec = profile.metrics[spec_name]
            series = values[:, j, block.metrics.index(spec_name)]
            hit = series >= spec.limit if spec.direction == "up" else series <= spec.limit
            k = int(np.argmax(hit)) if hit.any() else None
            out[device_id] = None if k is None else float(block.times(np.array([k]))[0])
    return out
