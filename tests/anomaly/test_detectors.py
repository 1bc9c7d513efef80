"""Each detector on series with known answers, plus the contract every detector keeps."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from anomaly import trend
from anomaly.base import Detector
from anomaly.cusum import Cusum
from anomaly.peers import FleetPeerModel
from anomaly.seasonal import SeasonalBaseline
from anomaly.stream import StreamConfig
from anomaly.trend import Trend
from tests.anomaly.series import DAY_POINTS, healthy, with_ramp, with_spike, with_step

WARM = 3 * DAY_POINTS


def scores(det, series):
    out = []
    for ts, v in series:
        out.append(det.score_one(ts, v))
        det.learn_one(ts, v)
    return out


def make_detectors():
    return [SeasonalBaseline(), Cusum(), Trend(limit=20.0, direction="up")]


@pytest.mark.parametrize("det", make_detectors(), ids=lambda d: type(d).__name__)
def test_contract_protocol_warmup_and_state_round_trip(det):
    assert isinstance(det, Detector)
    series = healthy(6 * DAY_POINTS, seed=1)
    assert det.score_one(*series[0]) == 0.0, "neutral score before any data"
    first, rest = series[:WARM], series[WARM:]
    scores(det, first)
    state = json.loads(json.dumps(det.state_dict()))  # plain JSON data
    twin = type(det).from_state_dict(state)
    assert scores(det, rest) == scores(twin, rest)
    assert twin.state_dict() == det.state_dict(), "the restored state is bit for bit the same"
    fresh = det.clone()
    assert fresh.params() == det.params()
    assert fresh.score_one(*series[0]) == 0.0


def test_seasonal_baseline_quiet_on_healthy_cycle_and_loud_on_spike():
    det = SeasonalBaseline()
    series = with_spike(healthy(5 * DAY_POINTS, seed=2), at=4 * DAY_POINTS, size=3.0)
    s = scores(det, series)
    assert all(v == 0.0 for v in s[:143]), "neutral during warm-up"
    healthy_part = s[2 * DAY_POINTS : 4 * DAY_POINTS]
    assert max(healthy_part) < 5.0, "the daily cycle is learned, not flagged"
    assert s[4 * DAY_POINTS] > 8.0, "a 15-sigma spike stands out"
    assert max(s[4 * DAY_POINTS + 1 :]) < 5.0, "one spike does not move the baseline"


def test_seasonal_direction_only_counts_one_side():
    up = SeasonalBaseline(direction="up")
    series = with_step(healthy(3 * DAY_POINTS, seed=3), at=2 * DAY_POINTS, size=-3.0)
    assert max(scores(up, series)) < 5.0


def test_cusum_flat_series_stays_below_threshold():
    s = scores(Cusum(), healthy(10 * DAY_POINTS, seed=4))
    assert max(s) < 12.0


def test_cusum_detects_a_small_persistent_step_quickly():
    at = 6 * DAY_POINTS
    series = with_step(healthy(8 * DAY_POINTS, seed=5), at=at, size=0.4)  # 2 sigma
    s = scores(Cusum(direction="up"), series)
    crossed = next(i for i, v in enumerate(s) if v >= 12.0)
    assert at <= crossed <= at + 18, "within three hours of a 2-sigma step"


def test_cusum_direction_ignores_the_other_way():
    series = with_step(healthy(8 * DAY_POINTS, seed=5), at=6 * DAY_POINTS, size=-1.0)
    assert max(scores(Cusum(direction="up"), series)) < 12.0


def test_trend_measures_a_ramp_and_forecasts_the_limit():
    at = 2 * DAY_POINTS
    series = with_ramp(healthy(7 * DAY_POINTS, seed=6), at=at, per_day=1.0)
    det = Trend(limit=20.0, direction="up")
    s = scores(det, series)
    assert det.slope_per_day == pytest.approx(1.0, abs=0.15)
    assert s[-1] > 4.0
    now = series[-1][0]
    level_now = 10.0 + (len(series) - at) / DAY_POINTS
    expected_eta = now + (20.0 - level_now) * 86400.0
    assert det.eta_ts == pytest.approx(expected_eta, abs=86400.0)


def test_trend_flat_series_has_no_forecast_and_small_score():
    det = Trend(limit=20.0, direction="up")
    s = scores(det, healthy(6 * DAY_POINTS, seed=7))
    assert max(s) < 4.0
    assert abs(det.slope_per_day) < 0.2


def test_trend_is_robust_to_a_step_in_the_window():
    series = with_step(healthy(8 * DAY_POINTS, seed=8), at=6 * DAY_POINTS, size=2.0)
    det = Trend(window=72, direction="up")
    scores(det, series[: 6 * DAY_POINTS + 12 * 6])  # 12 h after the step
    assert abs(det.slope_per_day) < 0.3, "a step is not a trend"


def test_half_a_day_of_weather_is_not_a_trend():
    """A fit waits for a whole day of day-lag pairs (one per hour of the day): with half a
    day of them, the first fit after a restart (a jump, a rebase) is one warm afternoon
    against the day before, and reads as a steep trend."""
    rng = np.random.default_rng(11)
    series = []
    for i in range(3 * DAY_POINTS):
        hour = i * 24 // DAY_POINTS
        warm = 0.5 if 24 <= hour < 36 else 0.0
        series.append((600.0 * i, 10.0 + warm + rng.normal(0.0, 0.05)))
    pairs = StreamConfig().trend_min_pairs
    assert pairs >= 24
    det = Trend(window=72, direction="up", quantile=0.3, min_pairs=pairs, limit=20.0)
    assert max(scores(det, series)) < 3.0
    hasty = Trend(window=72, direction="up", quantile=0.3, min_pairs=12, limit=20.0)
    assert max(scores(hasty, series)) > 3.0, "half a day of pairs reads the spell as a trend"


@pytest.mark.parametrize("seed", range(6))
def test_a_day_that_bends_into_a_climb_is_a_creep_and_a_dip_or_a_step_is_not(seed):
    # 24 hourly means (noise 0.3, limit 80): flat for 12 hours, then a climb of 0.6 an
    # hour (a motor that began to overheat this morning); a straight line through the
    # whole day is no fit and a step fits better, but the bend fits best (trend._bent).
    # The same climb after a dip (a lone unit in a weather trough: the day wandered
    # before it rose) and a step of the same size are no creep.
    e = np.random.default_rng(seed).normal(0.0, 0.3, 24)
    climb = [0.6 * max(0, i - 11) for i in range(24)]
    dip = [-2.5 * math.sin(math.pi * i / 11) if i < 12 else 0.0 for i in range(24)]
    bend = [47.0 + c + x for c, x in zip(climb, e, strict=True)]
    trough = [47.0 + c + d + x for c, d, x in zip(climb, dip, e, strict=True)]
    step = [47.0 + 4.0 * (i >= 12) + x for i, x in enumerate(e)]
    creep = [trend._creep(m, "up", 0.3, 80.0, 1.0, 0.3) for m in (bend, trough, step)]
    assert creep[0] >= 2.5
    assert creep[1:] == [0.0, 0.0]


def test_peer_model_flags_the_device_unlike_its_peers():
    rng = np.random.default_rng(1)
    X = rng.normal(0.0, 0.05, size=(150, 6))
    X[7] += 0.6
    s = FleetPeerModel().fit_score(X)
    assert int(np.argmax(s)) == 7
    assert np.sum(s >= 0.65) <= 3


def _wander_through_a_fault() -> tuple[float, float]:
    """``dl_var`` at a fault's onset and two days into it (a bearing-like wear growing
    as the square of time, 2 units on its first day, 8 by its second; the unit's own
    3-day wander is 0.5 units)."""
    rng = np.random.default_rng(5)
    det = Trend(window=72, direction="up", quantile=0.3, min_pairs=24, limit=50.0)
    onset, before = 12 * DAY_POINTS, 0.0
    for i in range(14 * DAY_POINTS):
        wander = 0.5 * np.sin(2 * np.pi * i / DAY_POINTS / 3.0)
        fault = 2.0 * max(0.0, (i - onset) / DAY_POINTS) ** 2
        det.update(600.0 * i, 10.0 + wander + fault + rng.normal(0, 0.05))
        if i == onset:
            before = det.dl_var
    return before, det.dl_var


def test_a_faults_own_days_are_not_learned_as_the_units_wander(monkeypatch):
    """The unit's day-to-day wander (``dl_var``) is what the drift and ramp gates and the
    two-day fit measure a move against. A day that moved toward the limit by more than
    3 times its RMS is not learned into it, so a growing fault does not raise its own
    bar (capped at 3 RMS instead, it had more than tripled two days into the fault)."""
    before, after = _wander_through_a_fault()
    assert before > 0.0 and after <= 1.4 * before
    monkeypatch.setattr(trend, "WANDER_OWN", math.inf)
    before, after = _wander_through_a_fault()
    assert after > 3.0 * before, "the days of the fault learned as wander"


def _young_acceleration(**kw: float) -> float:
    """The acceleration ``Trend._motion`` counts on three days of hourly means that speed
    up by about two standard errors of the period means (an alternating wobble of 0.3
    per hour is the noise)."""
    det = Trend(window=72, direction="up", quantile=0.3, min_pairs=24, limit=50.0, **kw)
    for i in range(4 * DAY_POINTS):
        hour = i // 6
        day = max(0.0, (i - DAY_POINTS) / DAY_POINTS)
        det.update(600.0 * i, 10.0 + 0.3 * day * day + (0.3 if hour % 2 else -0.3))
    return det._motion()[1]


def test_an_acceleration_part_of_the_way_out_of_the_noise_counts_in_part():
    # accel_soft (off by default): between that z and accel_z the acceleration counts
    # in proportion, so the ETA (and the drift's horizon) does not jump between a curve
    # and a straight line as the acceleration's z crosses accel_z
    assert _young_acceleration() == 0.0  # under accel_z = 3: a straight line
    full = _young_acceleration(accel_z=1.0)
    part = _young_acceleration(accel_soft=1.0)
    assert 0.0 < part < full
