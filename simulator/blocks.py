"""Build the per-model arrays of a fleet and trace where failures cross their limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.profiles import DeviceProfile
from simulator.benign import KINDS, LIFE_KINDS, BenignChange, draw_benign
from simulator.confounders import (
    COLD_START_S,
    Confounders,
    Life,
    draw_life,
    no_life,
    revision_offsets,
)
from simulator.failures import (
    RAIL_SEVERITY,
    FailurePlan,
    noise_growth,
    severity,
    stuck_readings,
)
from simulator.signals import FailureArrays, ModelBlock, Realism


@dataclass(frozen=True, slots=True)
class LifeDraw:
    """What ``build_block`` needs for the confounders: their switches, their own random
    stream, each device's region and the regions' weather."""

    on: Confounders
    rng: np.random.Generator
    region: np.ndarray
    weather: np.ndarray


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
    draw: LifeDraw | None = None,
    seconds: Sequence[FailurePlan | None] = (),
    kinds: tuple[str, ...] = (),
) -> tuple[ModelBlock, dict[int, tuple[BenignChange, ...]]]:
    """Arrays for the devices of one model; also each row's benign changes (and, with
    confounders, the device-level ones: revision B, power cuts, sensors...).
    ``seconds``: per row, a second fault of a failing device (or None). ``kinds``: the
    benign changes to draw from (empty: every kind the confounders allow)."""
    start, end, step = grid
    names = tuple(profile.metrics)
    specs = [profile.metrics[m] for m in names]
    n = len(device_ids)
    lo = np.array([s.normal[0] for s in specs])
    hi = np.array([s.normal[1] for s in specs])
    level = lo + (0.2 + 0.6 * rng.random((n, len(names)))) * (hi - lo)
    rev_b = np.zeros(n, bool)
    if draw is not None and draw.on.revisions:
        offset, rev_b = revision_offsets(draw.rng, profile, n)
        level = level + offset
    amplitude = np.array([s.daily_amplitude for s in specs]) * rng.uniform(0.8, 1.2, (n, 1))
    sigma = np.array([s.noise for s in specs]) * rng.uniform(0.8, 1.3, (n, len(names)))
    # Peak load mid-afternoon local time, give or take an hour.
    phase = 2 * np.pi * (np.asarray(utc_offsets_h) - 9.0) / 24.0 + rng.normal(0, 0.25, n)
    valid = np.array([s.valid or (-np.inf, np.inf) for s in specs], dtype=float).T
    kinds = kinds or (KINDS + LIFE_KINDS if draw is not None and draw.on.replacement else KINDS)
    changes = {
        r: draw_benign(rng, profile, dict(zip(names, level[r], strict=True)), (start, end), kinds)
        for r in range(n)
        if benign[r]
    }
    benign_table = np.array(
        [
            (r, names.index(c.metric), c.start_ts, c.end_ts, c.shift)
            for r, cs in changes.items()
            for c in cs
        ],
        dtype=float,
    ).reshape(-1, 5)
    n_ticks = int(round((end - start) / step))
    t_all = start + np.arange(n_ticks) * step
    life = no_life(n, len(names), start, end - start)
    outages = _outages(rng, n, start, end, realism)
    if draw is not None and draw.on.any:
        life = draw_life(
            draw.rng, profile, np.asarray(utc_offsets_h), draw.region, draw.weather, grid, draw.on
        )
        if draw.on.late:
            outages[:, 3] = draw.rng.random(len(outages)) < 0.5
        life = _replacement_cuts(life, changes)
    life = _power_step_cuts(life, plans)
    planned = [(r, p) for r, p in enumerate(plans) if p is not None]
    planned += [(r, p) for r, p in enumerate(seconds) if p is not None]
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
        failures=_failure_arrays(profile, names, level, planned, t_all, phase, sigma),
        outages=outages,
        life=life,
    )
    return block, _with_life_kinds(changes, life, rev_b, outages, names, (start, end))


def _failure_arrays(
    profile: DeviceProfile,
    names: tuple[str, ...],
    level: np.ndarray,
    planned: Sequence[tuple[int, FailurePlan]],
    t_all: np.ndarray,
    phase: np.ndarray,
    sigma: np.ndarray,
) -> FailureArrays:
    """Each (row, plan) as arrays; a row with two faults appears twice in ``rows``."""
    mids = np.array([sum(profile.metrics[m].normal) / 2 for m in names])
    span = np.array([profile.metrics[m].limit for m in names]) - mids
    rows = [r for r, _ in planned]
    effect = np.zeros((len(rows), len(names)))
    sev = np.zeros((len(rows), len(t_all)), dtype=np.float32)
    stuck_rows, stuck_cols, stuck_values, dither = [], [], [], []
    noise_rows, noise_cols, noise_scale = [], [], []
    for j, (r, plan) in enumerate(planned):
        mode = profile.failure_modes[plan.mode]
        col = names.index(mode.metric)
        if plan.variant == "noise":  # the mean stays; only the primary metric's noise grows
            noise_rows.append(r)
            noise_cols.append(col)
            noise_scale.append(noise_growth(plan, t_all, float(span[col])))
            continue
        for metric, frac in mode.effects.items():
            effect[j, names.index(metric)] = frac * span[names.index(metric)]
        sev[j] = severity(plan, t_all, float(phase[r]))
        if plan.variant in ("stuck", "dither"):
            rail = mids[col] + RAIL_SEVERITY * span[col]
            stuck_rows.append(r)
            stuck_cols.append(col)
            stuck_values.append(stuck_readings(plan, t_all, float(level[r, col]), rail))
            lsb = 10.0**-2 * max(abs(span[col]), 1.0)  # one step of a coarse converter
            dither.append(lsb if plan.variant == "dither" else 0.0)
    return FailureArrays(
        rows=np.array(rows, dtype=int),  # (a dither of a tenth of the noise: one LSB)
        effect=effect,
        severity=sev,
        stuck_rows=np.array(stuck_rows, dtype=int),
        stuck_cols=np.array(stuck_cols, dtype=int),
        stuck_values=np.array(stuck_values, dtype=float).reshape(len(stuck_rows), len(t_all)),
        stuck_dither=np.array(dither, dtype=float),
        noise_rows=np.array(noise_rows, dtype=int),
        noise_cols=np.array(noise_cols, dtype=int),
        noise_scale=np.array(noise_scale, dtype=float).reshape(len(noise_rows), len(t_all)),
    )


def _outages(
    rng: np.random.Generator, n: int, start: float, end: float, realism: Realism
) -> np.ndarray:
    """One connectivity outage for a share of the devices: (row, start, end, late=0)."""
    rows = np.flatnonzero(rng.random(n) < realism.outage_share)
    begin = rng.uniform(start, end, len(rows))
    hours = rng.uniform(*realism.outage_hours, len(rows))
    late = np.zeros(len(rows))
    return np.column_stack([rows, begin, begin + hours * 3600.0, late]).reshape(-1, 4)


def first_breach(
    block: ModelBlock,
    profile: DeviceProfile,
    plans: Mapping[int, FailurePlan],
    index: Mapping[str, int],
) -> dict[str, float | None]:
    """For each device of ``block`` with a plan in ``plans`` (keyed by fleet index): the
    first tick at or after that plan's onset where its primary metric hits the limit."""
    ids = block.device_ids
    failing = np.array([r for r in range(len(ids)) if index[ids[r]] in plans], dtype=int)
    ks = np.arange(block.failures.severity.shape[1])
    out: dict[str, float | None] = {}
    for at in range(0, len(failing), TRACE_CHUNK):
        rows = failing[at : at + TRACE_CHUNK]
        values = block.subset(rows).underlying(ks)  # (T, r, m)
        for j, row in enumerate(rows):
            device_id = block.device_ids[row]
            spec_name = profile.failure_modes[plans[index[device_id]].mode].metric
            spec = profile.metrics[spec_name]
            col = block.metrics.index(spec_name)
            series = values[:, j, col] + _swing(block.failures, row, col, spec.direction)
            hit = series >= spec.limit if spec.direction == "up" else series <= spec.limit
            plan = plans[index[device_id]]
            # the failure's doing (after a power event: once the cold start has settled)
            since = plan.onset_ts + (COLD_START_S if plan.variant == "power_step" else 0.0)
            hit &= block.times(ks) >= since
            k = int(np.argmax(hit)) if hit.any() else None
            out[device_id] = None if k is None else float(block.times(np.array([k]))[0])
    return out


def _swing(f: FailureArrays, row: int, col: int, direction: str) -> np.ndarray | float:
    """Two sigma of a growing-noise failure toward the limit (0 for other failures)."""
    at = np.flatnonzero((f.noise_rows == row) & (f.noise_cols == col))
    if not len(at):
        return 0.0
    return np.asarray((2.0 if direction == "up" else -2.0) * f.noise_scale[at[0]])


def _power_step_cuts(life: Life, plans: Sequence[FailurePlan | None]) -> Life:
    """A step after a power event: the device is off for ``outage_s`` before the onset."""
    extra = [
        (r, p.onset_ts - p.outage_s, p.onset_ts, 900.0)
        for r, p in enumerate(plans)
        if p is not None and p.variant == "power_step"
    ]
    if not extra:
        return life
    return replace(life, cuts=np.vstack([life.cuts, np.array(extra, dtype=float)]))


def _replacement_cuts(life: Life, changes: dict[int, tuple[BenignChange, ...]]) -> Life:
    """A replaced unit is off for a few hours before its new level starts."""
    extra = [
        (r, c.start_ts - 3 * 3600.0, c.start_ts, 900.0)
        for r, cs in changes.items()
        for c in cs[:1]
        if c.kind == "replacement"
    ]
    if not extra:
        return life
    cuts = np.vstack([life.cuts, np.array(extra, dtype=float)])
    return replace(life, cuts=cuts)


def _with_life_kinds(
    changes: dict[int, tuple[BenignChange, ...]],
    life: Life,
    rev_b: np.ndarray,
    outages: np.ndarray,
    names: tuple[str, ...],
    window: tuple[float, float],
) -> dict[int, tuple[BenignChange, ...]]:
    """Each row's benign changes plus its device-level confounders, as truth rows."""
    out = {r: list(cs) for r, cs in changes.items()}
    start, end = window

    def add(r: int, kind: str, metric: str = "", t0: float = start, t1: float = end) -> None:
        out.setdefault(int(r), []).append(BenignChange(kind, metric, t0, t1, 0.0))

    for r in np.flatnonzero(rev_b).tolist():
        add(r, "revision_b")
    for row, t0, t1, _ in life.cuts:
        add(int(row), "power_cut", "", float(t0), float(t1))
    for r in np.flatnonzero(life.every == 1 if life.jitter_s else np.zeros(0, bool)).tolist():
        add(r, "fast_sampling")
    for row, t0, t1, late in outages:
        if late:
            add(int(row), "late_batch", "", float(t0), float(t1))
    for kind, table in (("sample_hold", life.holds), ("quantised", life.quantum)):
        for r, c in zip(*(a.tolist() for a in np.nonzero(table > 0)), strict=True):
            add(r, kind, names[c])
    for kind, table in (("weekly", life.weekly), ("weather", life.coupling)):
        if np.any(table):
            for r in range(len(life.every)):
                add(r, kind)
    return {r: tuple(cs) for r, cs in out.items()}
