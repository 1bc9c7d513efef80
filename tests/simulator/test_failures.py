"""Each failure kind leaves its own signature in the data."""

from __future__ import annotations

import numpy as np

from simulator.fleet import Fleet, GroundTruth

DAY = 86400.0


def _of(fleet: Fleet, variant: str) -> list[tuple[GroundTruth, float]]:
    """Failures of one variant that reached the limit, with their notice time."""
    found = [(t, t.notice_ts) for t in fleet.truth() if t.variant == variant]
    reached = [(t, notice) for t, notice in found if notice is not None]
    assert len(reached) >= 3, variant
    return reached


def _span(fleet: Fleet, t: GroundTruth) -> float:
    spec = fleet.profiles[t.model].metrics[t.metric]
    return spec.limit - sum(spec.normal) / 2


def test_every_kind_and_variant_is_present(failing_fleet: Fleet) -> None:
    variants = {(t.kind, t.variant) for t in failing_fleet.truth()}
    assert variants == {
        ("gradual", "accelerating"),
        ("intermittent", "episodes"),
        ("sudden", "step"),
        ("sensor", "stuck"),
        ("sensor", "spikes"),
    }


def test_gradual_failures_accelerate_over_days(failing_fleet: Fleet) -> None:
    for t, notice in _of(failing_fleet, "accelerating"):
        assert notice - t.onset_ts >= 1.5 * DAY
        ts, v = failing_fleet.underlying(t.device_id, t.metric)
        drift = _deseasoned(ts, v, t) / _span(failing_fleet, t)
        middle, notice = np.searchsorted(ts, [(t.onset_ts + notice) / 2, notice])
        assert drift[middle] < 0.5 * drift[notice]  # faster in the second half
        assert drift[notice] > 0.6


def _deseasoned(ts: np.ndarray, v: np.ndarray, t: GroundTruth) -> np.ndarray:
    """Shift of the daily mean from the last healthy day (signed towards the limit)."""
    daily = np.convolve(v, np.ones(144) / 144, mode="same")
    base = daily[np.searchsorted(ts, t.onset_ts) - 72]
    return np.asarray(daily - base, dtype=float)


def test_intermittent_faults_come_back_deeper(failing_fleet: Fleet) -> None:
    for t, notice in _of(failing_fleet, "episodes"):
        ts, v = failing_fleet.underlying(t.device_id, t.metric)
        span = _span(failing_fleet, t)
        healthy = np.median(v[ts < t.onset_ts])
        depth = (v - healthy) / span
        inside = depth > 0.25
        starts = np.flatnonzero(inside[1:] & ~inside[:-1])
        assert len(starts) >= 3  # separate episodes, back to normal in between
        third = (notice - t.onset_ts) / 3
        early = depth[(ts >= t.onset_ts) & (ts < t.onset_ts + third)].max()
        late = depth[(ts >= notice - third) & (ts <= notice)].max()
        assert late > early + 0.3


def test_sudden_faults_step_to_the_limit(failing_fleet: Fleet) -> None:
    for t, notice in _of(failing_fleet, "step"):
        ts, v = failing_fleet.underlying(t.device_id, t.metric)
        k = int(np.searchsorted(ts, notice))
        jump = (v[k] - v[k - 1]) / _span(failing_fleet, t)
        assert jump > 0.7
        assert notice - t.onset_ts <= 2 * DAY + 600  # precursor: 6-48 h


def test_stuck_sensor_reports_one_value_then_a_rail(failing_fleet: Fleet) -> None:
    stuck = {t.device_id: (t, notice) for t, notice in _of(failing_fleet, "stuck")}
    emitted = _emitted(failing_fleet, set(stuck))
    for device_id, (t, notice) in stuck.items():
        during = [v for ts, v in emitted[device_id] if t.onset_ts < ts < notice]
        before = [v for ts, v in emitted[device_id] if ts < t.onset_ts]
        assert len(during) > 100 and len(set(during)) == 1  # frozen, no noise
        assert len(set(before[-50:])) > 40
        after = [v for ts, v in emitted[device_id] if ts >= notice]
        spec = failing_fleet.profiles[t.model].metrics[t.metric]
        assert all(spec.breached(v) for v in after)


def test_spiking_sensor_spikes_for_single_readings(failing_fleet: Fleet) -> None:
    for t, notice in _of(failing_fleet, "spikes"):
        ts, v = failing_fleet.underlying(t.device_id, t.metric)
        spec = failing_fleet.profiles[t.model].metrics[t.metric]
        hits = np.flatnonzero([spec.breached(x) for x in v])
        assert len(hits) >= 2 and ts[hits[0]] == notice
        assert all(not spec.breached(v[k - 1]) and not spec.breached(v[k + 1]) for k in hits[:-1])


def _emitted(fleet: Fleet, ids: set[str]) -> dict[str, list[tuple[float, float]]]:
    metric = {t.device_id: t.metric for t in fleet.truth()}
    out: dict[str, list[tuple[float, float]]] = {i: [] for i in ids}
    for ts, readings in fleet.ticks():
        for r in readings:
            if r.device_id in ids and metric[r.device_id] in r.metrics:
                out[r.device_id].append((ts, r.metrics[metric[r.device_id]]))
    return out
