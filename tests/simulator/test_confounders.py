"""Each confounder of real fleets shows in the data as its ground truth says."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from simulator.confounders import COUPLING, Confounders
from simulator.fleet import Fleet
from tests.simulator.conftest import START

DAY = 86400.0


def _fleet(names: str, n: int = 90, days: float = 14, rate: float = 0.0) -> Fleet:
    return Fleet(
        n,
        seed=31,
        failure_rate=rate,
        start_ts=START,
        days=days,
        confounders=Confounders.parse(names),
    )


@pytest.fixture(scope="module")
def everything() -> Fleet:
    return _fleet("all", n=45, days=6)


@pytest.fixture(scope="module")
def readings(everything: Fleet) -> list[tuple[str, float, dict[str, float]]]:
    return [(r.device_id, r.ts, r.metrics) for _, rs in everything.ticks() for r in rs]


def _kinds(fleet: Fleet) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for b in fleet.benign():
        out[b.kind].add(b.device_id)
    return out


def test_parse_names_all_and_none() -> None:
    assert Confounders.parse("none") == Confounders()
    assert Confounders.parse("all").names() == Confounders.all().names()
    assert Confounders.parse("weather, weekly").names() == ["weekly", "weather"]
    with pytest.raises(ValueError, match="unknown confounders"):
        Confounders.parse("weather,rain")


def test_without_confounders_the_fleet_is_the_clean_one() -> None:
    clean = Fleet(20, seed=4, failure_rate=0.3, start_ts=START, days=2)
    off = Fleet(20, seed=4, failure_rate=0.3, start_ts=START, days=2, confounders=Confounders())
    a = [(r.device_id, r.ts, r.metrics) for _, rs in clean.ticks() for r in rs]
    b = [(r.device_id, r.ts, r.metrics) for _, rs in off.ticks() for r in rs]
    assert a == b and clean.truth() == off.truth() and clean.benign() == off.benign()


def test_weather_moves_a_region_together() -> None:
    fleet = _fleet("weather", n=120)
    regions = fleet.cohorts()
    daily: dict[str, list[float]] = {}
    for d in fleet.devices:
        if d.model == "aircon-x1":
            _, v = fleet.underlying(d.device_id, "cooling_delta_c")
            daily[d.device_id] = v.reshape(-1, 144).mean(axis=1).tolist()
    same, other = [], []
    ids = sorted(daily)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            r = float(np.corrcoef(daily[a], daily[b])[0, 1])
            (same if regions[a] == regions[b] else other).append(r)
    assert np.median(same) > 0.9 > np.median(other) + 0.3
    assert COUPLING["cooling_delta_c"] < 0  # hot spells lower the cooling delta


def test_weekends_shift_usage_toward_the_limit() -> None:
    fleet = _fleet("weekly", n=30)
    device = next(d for d in fleet.devices if d.model == "pump-p3")
    ts, v = fleet.underlying(device.device_id, "bearing_temp_c")
    local = ts + 9 * 3600.0  # Asia/Tokyo or another zone: within a few hours
    weekend = (np.floor(local / DAY + 3) % 7) >= 5
    spec = fleet.profiles["pump-p3"].metrics["bearing_temp_c"]
    gap = v[weekend].mean() - v[~weekend].mean()
    assert 0.4 * spec.daily_amplitude < gap < 1.6 * spec.daily_amplitude


def test_a_power_cut_is_silent_then_starts_cold() -> None:
    fleet = _fleet("power_cuts", n=40)
    cut = next(b for b in fleet.benign() if b.kind == "power_cut" and b.end_ts - b.start_ts > 7200)
    model = next(d.model for d in fleet.devices if d.device_id == cut.device_id)
    seen = [r.ts for _, rs in fleet.ticks() for r in rs if r.device_id == cut.device_id]
    assert not [t for t in seen if cut.start_ts <= t < cut.end_ts]
    metric = fleet.profiles[model].failure_modes[sorted(fleet.profiles[model].failure_modes)[0]]
    spec = fleet.profiles[model].metrics[metric.metric]
    ts, v = fleet.underlying(cut.device_id, metric.metric)
    after = np.searchsorted(ts, cut.end_ts)
    sign = 1.0 if spec.direction == "up" else -1.0
    jump = sign * (v[after] - v[after - 40])
    later = sign * (v[after + 12] - v[after - 40])  # an hour on it has settled
    assert jump > 0.2 * abs(spec.limit - sum(spec.normal) / 2) > later


def test_revision_b_sits_toward_the_limit() -> None:
    fleet = _fleet("revisions", n=150, days=2)
    rev = _kinds(fleet)["revision_b"]
    assert 0.2 < len(rev) / 150 < 0.5
    spec = fleet.profiles["aircon-x1"].metrics["compressor_current_a"]
    levels = {
        d.device_id: float(np.mean(fleet.underlying(d.device_id, "compressor_current_a")[1]))
        for d in fleet.devices
        if d.model == "aircon-x1"
    }
    b = [v for d, v in levels.items() if d in rev]
    a = [v for d, v in levels.items() if d not in rev]
    width = spec.normal[1] - spec.normal[0]
    assert np.mean(b) - np.mean(a) > 0.15 * width
    assert max(b) > spec.normal[1], "some healthy units of revision B sit outside the range"


def test_five_and_ten_minute_models_with_jitter(everything: Fleet, readings) -> None:
    times: dict[str, list[float]] = defaultdict(list)
    for device, ts, _ in readings:
        times[device].append(ts)
    for d in everything.devices:
        steps = np.diff(times[d.device_id])
        expected = 300.0 if d.model in ("aircon-x1", "waterheater-w2") else 600.0
        assert abs(np.median(steps) - expected) < 25.0, d.model
    offsets = [(t - START) % 300.0 for ts in times.values() for t in ts]
    assert 0.0 < max(offsets) <= 20.0, "timestamps jitter by up to 20 s"


def test_late_batches_arrive_after_the_outage_in_order() -> None:
    fleet = _fleet("late", n=80, days=6)
    late = [b for b in fleet.benign() if b.kind == "late_batch"]
    assert late
    outage = late[0]
    delivered_at: list[tuple[float, float]] = []
    for tick, rs in fleet.ticks():
        delivered_at += [(tick, r.ts) for r in rs if r.device_id == outage.device_id]
    held = [(tick, ts) for tick, ts in delivered_at if outage.start_ts <= ts < outage.end_ts]
    assert held and all(tick >= outage.end_ts - 600.0 for tick, _ in held)
    stamps = [ts for _, ts in delivered_at]
    assert stamps == sorted(stamps), "each device's readings stay in time order"


def test_sample_and_hold_and_quantised_sensors(everything: Fleet, readings) -> None:
    kinds = defaultdict(set)
    for b in everything.benign():
        if b.kind in ("sample_hold", "quantised"):
            kinds[b.kind].add((b.device_id, b.metric))
    series: dict[tuple[str, str], list[float]] = defaultdict(list)
    for device, _, metrics in readings:
        for m, v in metrics.items():
            series[device, m].append(v)
    for key in list(kinds["sample_hold"])[:10]:
        values = np.asarray(series[key])
        assert np.mean(np.diff(values) == 0.0) > 0.3, "a held sensor repeats its value"
    for key in list(kinds["quantised"])[:10]:
        moves = np.abs(np.diff(np.asarray(series[key])))
        step = np.min(moves[moves > 0])
        assert np.allclose(moves / step, np.round(moves / step), atol=0.05), "on a grid"


def test_replacement_moves_every_metric_at_once() -> None:
    fleet = Fleet(
        200,
        seed=8,
        failure_rate=0.0,
        start_ts=START,
        days=10,
        benign_rate=0.5,
        confounders=Confounders.parse("replacement"),
    )
    changes = [b for b in fleet.benign() if b.kind == "replacement"]
    by_device = defaultdict(list)
    for b in changes:
        by_device[b.device_id].append(b)
    assert by_device and any(b.kind == "recalibration" for b in fleet.benign())
    for device, rows in by_device.items():
        model = next(d.model for d in fleet.devices if d.device_id == device)
        assert {b.metric for b in rows} == set(fleet.profiles[model].metrics)
        assert len({b.start_ts for b in rows}) == 1


def test_every_failure_shape_shows_up_with_shapes_on() -> None:
    fleet = _fleet("shapes", n=240, days=30, rate=1.0)
    variants = {t.variant for t in fleet.truth()}
    assert {
        "accelerating",
        "exponential",
        "saturating",
        "load",
        "episodes",
        "step",
        "stuck",
        "dither",
        "spikes",
        "noise",
        "power_step",
        "two_faults",
    } <= variants
    for t in fleet.truth():
        assert t.notice_ts is None or t.notice_ts >= t.onset_ts


@pytest.fixture(scope="module")
def shaped() -> Fleet:
    return _fleet("shapes", n=240, days=30, rate=1.0)


def test_a_step_after_a_power_event_is_silent_then_shifted_then_creeping(shaped: Fleet) -> None:
    steps = [t for t in shaped.truth() if t.variant == "power_step" and t.notice_ts]
    assert len(steps) >= 3
    seen = {(r.device_id, r.ts) for _, rs in shaped.ticks() for r in rs}
    for t in steps:
        spec = shaped.profiles[t.model].metrics[t.metric]
        room = spec.limit - sum(spec.normal) / 2
        ts, v = shaped.underlying(t.device_id, t.metric)
        before = v[(ts < t.onset_ts - 4 * 3600.0) & (ts >= t.onset_ts - DAY)].mean()
        after = v[(ts >= t.onset_ts + 3600.0) & (ts < t.onset_ts + 4 * 3600.0)].mean()
        assert (after - before) / room > 0.3, "the device comes back shifted"
        assert not any(
            (t.device_id, x) in seen for x in ts[(ts > t.onset_ts - 1800) & (ts < t.onset_ts)]
        )
        assert t.notice_ts - t.onset_ts > DAY, "then it creeps to the limit over days"


def test_two_faults_on_one_device_have_their_own_truth(shaped: Fleet) -> None:
    by_device: dict[str, list] = defaultdict(list)
    for t in shaped.truth():
        by_device[t.device_id].append(t)
    pairs = [ts for ts in by_device.values() if len(ts) == 2]
    assert len(pairs) >= 5
    for first, second in pairs:
        assert second.variant == "two_faults" and first.variant != "two_faults"
        assert first.metric != second.metric, "each fault shows on its own primary metric"
        assert second.onset_ts > first.onset_ts
        device = next(d for d in shaped.devices if d.device_id == first.device_id)
        assert (device.failure, device.second) == (first, second)
        if second.notice_ts is not None:
            ts, v = shaped.underlying(second.device_id, second.metric)
            spec = shaped.profiles[second.model].metrics[second.metric]
            hit = v >= spec.limit if spec.direction == "up" else v <= spec.limit
            assert hit[ts == second.notice_ts].all()
            assert second.notice_ts >= second.onset_ts
