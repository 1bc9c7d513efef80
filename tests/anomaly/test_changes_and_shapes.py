"""Benign changes of one device open no case; a step after a power event and a second
fault on a failing device each open their own.

Small synthetic cohorts of pumps (four metrics each) through the DetectorBank: every
device has its own level, a daily cycle, noise and, unless told otherwise, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from anomaly.attribution import second_fault
from anomaly.bank import DetectorBank
from anomaly.evaluate import START_TS
from core.events import AnomalyEvent
from core.profiles import MetricSpec, load_profiles
from core.readings import Reading

PROFILES = load_profiles()
MODEL = "pump-p3"
HEATER = "waterheater-w2"
SPECS = PROFILES[MODEL].metrics
DAY = 86400.0
# (device, ts, healthy values) -> the values it reports (an empty dict: silent)
Shape = Callable[[int, float, dict[str, float]], dict[str, float]]


def _run(
    shape: Shape, devices: int = 10, days: float = 14.0, seed: int = 5, model: str = MODEL
) -> list[AnomalyEvent]:
    rng = np.random.default_rng(seed)
    ids = [f"p{i:02d}" for i in range(devices)]
    specs = PROFILES[model].metrics
    names = sorted(specs)
    lo = np.array([specs[m].normal[0] for m in names])
    hi = np.array([specs[m].normal[1] for m in names])
    level = lo + rng.uniform(0.25, 0.75, (devices, len(names))) * (hi - lo)
    amp = np.array([specs[m].daily_amplitude for m in names])
    noise = np.array([specs[m].noise for m in names])
    bank = DetectorBank(PROFILES, lambda d: model, cohort=lambda d: "r1")
    events: list[AnomalyEvent] = []
    for k in range(int(days * DAY / 600.0)):
        ts = START_TS + k * 600.0
        daily = amp * math.sin(2 * math.pi * ts / DAY)
        values = level + daily + rng.normal(0.0, 1.0, level.shape) * noise
        batch = []
        for i, d in enumerate(ids):
            x = shape(i, ts, dict(zip(names, values[i].tolist(), strict=True)))
            if x:
                batch.append(Reading(d, ts, {m: round(v, 3) for m, v in x.items()}))
        events += bank.update(batch)
    return [e for e in events if e.kind == "anomaly"]


def _spec(metric: str) -> MetricSpec:
    return SPECS.get(metric) or PROFILES[HEATER].metrics[metric]


def _width(metric: str) -> float:
    return _spec(metric).normal[1] - _spec(metric).normal[0]


def _toward(metric: str) -> float:
    return 1.0 if _spec(metric).direction == "up" else -1.0


def _room(metric: str) -> float:
    spec = _spec(metric)
    return abs(spec.limit - sum(spec.normal) / 2)


def _at(i: int) -> float:
    return START_TS + (5.0 + 0.4 * i) * DAY  # each device changes on its own day


def test_a_replaced_unit_at_a_new_level_inside_the_normal_range_opens_no_case() -> None:
    def replaced(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if _at(i) - 3 * 3600.0 <= ts < _at(i):
            return {}  # off while it is replaced
        if ts < _at(i):
            return x
        sign = 1.0 if i % 2 else -1.0  # half toward the limit, half away
        return {m: v + sign * 0.35 * _toward(m) * _width(m) for m, v in x.items()}

    assert _run(replaced) == []


def test_a_recalibrated_sensor_or_a_firmware_update_opens_no_case() -> None:
    def recalibrated(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        metric = sorted(SPECS)[i % len(SPECS)]
        if ts >= _at(i):
            x[metric] += 0.4 * _toward(metric) * _width(metric)
        return x

    assert _run(recalibrated) == []


def test_a_slow_drift_of_one_device_inside_the_normal_range_opens_no_case() -> None:
    def seasonal(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        share = (ts - START_TS) / (30 * DAY)  # half the normal width over a month
        return {m: v + 0.5 * share * _toward(m) * _width(m) for m, v in x.items()}

    assert _run(seasonal, days=20.0) == []


def test_a_step_the_whole_cohort_takes_at_once_opens_no_case() -> None:
    # every unit of the region changes its usage at the same local midnight: each one
    # jumps far toward its limit in one reading while the cohort's common movement
    # catches up over the next hour, so for a while each looks like a spike of its own
    at = START_TS + 6 * DAY

    def usage(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if ts < at:
            return x
        return {m: v + 0.3 * _toward(m) * _room(m) for m, v in x.items()}

    assert _run(usage) == []


def test_weekends_shared_by_the_cohort_open_no_case() -> None:
    def weekly(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        weekend = math.floor((ts - START_TS) / DAY) % 7 >= 5
        own = 0.8 + 0.04 * i
        return {m: v + weekend * own * SPECS[m].daily_amplitude * _toward(m) for m, v in x.items()}

    assert _run(weekly, days=20.0) == []


def test_a_step_after_a_power_event_is_caught_before_the_limit() -> None:
    onset, off = START_TS + 7 * DAY, 2 * 3600.0
    metric = "motor_current_a"

    def surge(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i != 0 or ts < onset - off:
            return x
        if ts < onset:
            return {}
        since = ts - onset
        cold = 0.5 * math.exp(-since / 900.0) if since < 3600.0 else 0.0
        damage = 0.45 + 0.65 * (since / (4 * DAY)) ** 1.5
        return {
            m: v + (damage * (m == metric) + cold) * _toward(m) * _room(m) for m, v in x.items()
        }

    events = _run(surge)
    assert {e.device_id for e in events} == {"p00"}
    first = events[0]
    assert first.failure_mode == "motor_overload"
    limit_at = onset + 4 * DAY * ((1 - 0.45) / 0.65) ** (1 / 1.5)  # roughly
    assert onset < first.ts < onset + 0.5 * (limit_at - onset)


def test_a_second_fault_on_a_failing_device_opens_its_own_case() -> None:
    first_at, second_at = START_TS + 6 * DAY, START_TS + 9 * DAY

    def two(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i != 0:
            return x
        wear = 0.7 * max(0.0, (ts - first_at) / (6 * DAY)) ** 2
        clog = 0.9 * max(0.0, (ts - second_at) / (4 * DAY)) ** 1.6
        effects = {"bearing_wear": wear, "impeller_clog": clog}
        for mode, sev in effects.items():
            for m, e in PROFILES[MODEL].failure_modes[mode].effects.items():
                x[m] += sev * e * _toward(m) * _room(m)
        return x

    events = _run(two)
    modes = {e.failure_mode: e.ts for e in events}
    assert {e.device_id for e in events} == {"p00"}
    assert set(modes) == {"bearing_wear", "impeller_clog"}
    assert first_at < modes["bearing_wear"] < second_at < modes["impeller_clog"]


def test_a_second_fault_is_caught_in_the_first_half_of_its_window() -> None:
    """A heater's element wears from day 5 (it lengthens the heat-up time a little);
    scale builds up from day 8. The heat-up alarm is the element's at first; the scale's
    own case must come while its fault has more than half of its window left, not when
    it has moved a quarter of the way past what the element explains (the rule before)."""
    first_at, second_at = START_TS + 5 * DAY, START_TS + 8 * DAY
    faults = PROFILES[HEATER].failure_modes

    def severities(ts: float) -> dict[str, float]:
        wear = 0.6 * max(0.0, (ts - first_at) / (6 * DAY)) ** 2
        scale = 0.9 * max(0.0, (ts - second_at) / (5 * DAY)) ** 1.6
        return {"element_degradation": wear, "scale_buildup": scale}

    def heatup(ts: float) -> float:  # the heat-up time's share of its room, both faults
        shares = severities(ts).items()
        return sum(sev * faults[m].effects.get("heatup_min", 0.0) for m, sev in shares)

    def two(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i != 0:
            return x
        for mode, sev in severities(ts).items():
            for m, e in faults[mode].effects.items():
                x[m] += sev * e * _toward(m) * _room(m)
        return x

    events = _run(two, model=HEATER, days=16.0)
    modes = {e.failure_mode: e.ts for e in events}
    assert {e.device_id for e in events} == {"p00"}
    assert set(modes) == {"element_degradation", "scale_buildup"}
    ticks = (START_TS + k * 600.0 for k in range(10**5))
    notice = next(ts for ts in ticks if heatup(ts) >= 1.0)
    assert second_at < modes["scale_buildup"] < second_at + 0.5 * (notice - second_at)


def test_two_open_faults_explain_together_what_each_moves_a_little() -> None:
    """A pump's worn bearing and its clogged impeller each raise the motor current a
    little; together they raise it by the sum, which is no third fault (a motor
    overload). A current that rises well past that sum is one."""
    pump = PROFILES[MODEL]
    wear, clog = 0.5, 0.5
    fracs = {
        "vibration_mm_s": wear,
        "bearing_temp_c": 0.5 * wear,
        "flow_lpm": clog,
        "motor_current_a": 0.2 * wear + 0.3 * clog + 0.03,
    }
    both = {"bearing_wear", "impeller_clog"}
    assert second_fault(pump, fracs, "motor_current_a", both) is None
    more = {**fracs, "motor_current_a": fracs["motor_current_a"] + 0.15}
    assert second_fault(pump, more, "motor_current_a", both) == "motor_overload"


def test_episodes_on_a_metric_a_gradual_fault_already_moved_open_the_intermittent_mode() -> None:
    first_at, second_at = START_TS + 5 * DAY, START_TS + 9 * DAY
    element = PROFILES[HEATER].failure_modes["element_degradation"].effects

    def element_then_thermostat(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i != 0:
            return x  # the element's wear moves the outlet temperature too
        sev = 0.8 * min(1.0, max(0.0, (ts - first_at) / (4 * DAY))) ** 1.5
        for m, e in element.items():
            x[m] += sev * e * _toward(m) * _room(m)
        hour = (ts - second_at) / 3600.0
        if hour >= 0 and hour % 10 < 2:  # two hours in ten, deeper as days pass
            depth = 0.4 + 0.1 * hour / 24
            x["outlet_temp_c"] += depth * _toward("outlet_temp_c") * _room("outlet_temp_c")
        return x

    events = _run(element_then_thermostat, model=HEATER)
    modes = {e.failure_mode: e.ts for e in events}
    assert {e.device_id for e in events} == {"p00"}
    assert set(modes) == {"element_degradation", "thermostat_fault"}
    assert modes["thermostat_fault"] > second_at


def test_a_replaced_unit_whose_new_level_sits_at_the_normal_edge_opens_no_case() -> None:
    # the new unit reports at the range's edge toward the limit (a little past it, as
    # in a hot spell): a new normal after a jump, which settles and becomes its own
    def replaced(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if _at(i) - 3 * 3600.0 <= ts < _at(i):
            return {}
        if ts < _at(i):
            return x
        out = {}
        for m, v in x.items():
            spec = _spec(m)
            edge = spec.normal[1] if spec.direction == "up" else spec.normal[0]
            mid = sum(spec.normal) / 2
            out[m] = v + (edge + 0.08 * _toward(m) * abs(spec.limit - edge) - mid)
        return out

    assert _run(replaced) == []


def _overload(onset: float, creep: float) -> Shape:
    """Device 0's motor current creeps from ``onset`` to 0.3 of the way over ``creep``
    seconds, then trips (1.3 of the way, past the limit)."""
    metric = "motor_current_a"

    def shape(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i == 0 and ts >= onset:
            share = min((ts - onset) / creep, 1.0) * 0.3 if ts < onset + creep else 1.3
            x[metric] += share * _toward(metric) * _room(metric)
        return x

    return shape


@pytest.mark.parametrize("hours", [30.0, 44.0])
def test_a_motor_that_creeps_for_a_day_before_it_trips_is_caught_before_the_trip(
    hours: float,
) -> None:
    onset, creep = START_TS + 7 * DAY, hours * 3600.0
    events = _run(_overload(onset, creep))
    assert {e.device_id for e in events} == {"p00"}
    first = events[0]
    assert first.failure_mode == "motor_overload"
    assert onset < first.ts < onset + creep  # before the trip, which the customer notices


@pytest.mark.parametrize(("hours", "left"), [(18.0, 0.2), (24.0, 0.35)])
def test_a_creep_that_began_within_the_day_is_caught_hours_before_the_trip(
    hours: float, left: float
) -> None:
    # the last day's hourly means are flat, then a line: no straight line through them
    # all, and no step; the bend is the creep (trend._bent). Without it the first case
    # came from the normal range, an hour or two before the trip (6-7% of the creep)
    onset, creep = START_TS + 7 * DAY, hours * 3600.0
    events = _run(_overload(onset, creep))
    assert {e.device_id for e in events} == {"p00"}
    first = events[0]
    assert first.failure_mode == "motor_overload"
    assert "ramp" in first.why.detectors
    assert onset < first.ts <= onset + (1.0 - left) * creep


def test_a_motor_that_creeps_over_a_weekend_the_cohort_shares_is_caught_before_the_trip() -> None:
    # the cohort's weekend and the creep rise together: the device must not learn its
    # fault as coupling to the cohort (and subtract it with the weekend)
    onset, creep = START_TS + 12 * DAY, 34 * 3600.0  # days 12-13 are a weekend
    trip = _overload(onset, creep)

    def overload(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        weekend = ((ts - START_TS) / DAY) % 7 >= 5
        own = (1.2 + 0.04 * i) * weekend
        return trip(
            i, ts, {m: v + own * SPECS[m].daily_amplitude * _toward(m) for m, v in x.items()}
        )

    events = [e for e in _run(overload, days=16.0) if e.device_id == "p00"]
    assert events and events[0].failure_mode == "motor_overload"
    assert onset < events[0].ts < onset + creep


def test_a_unit_that_stepped_away_from_its_limit_is_judged_from_its_new_level() -> None:
    # a relocated pump draws less current from day 8 on (a step away from its limit);
    # from day 13 it and another pump develop the same overload. Held away, its
    # reference once learned nothing again: its fault had to climb back past the old
    # level first, and its case came 30 hours after the other pump's (now 3 hours)
    metric, onset = "motor_current_a", START_TS + 13 * DAY

    def stepped_then_failing(i: int, ts: float, x: dict[str, float]) -> dict[str, float]:
        if i == 0 and ts >= START_TS + 8 * DAY:
            x[metric] -= 0.4 * _toward(metric) * _width(metric)
        if i < 2 and ts >= onset:  # 10% of the way to the limit a day
            x[metric] += 0.1 * _toward(metric) * _room(metric) * (ts - onset) / DAY
        return x

    first: dict[str, float] = {}
    for e in sorted(_run(stepped_then_failing, days=19.0), key=lambda e: e.ts):
        first.setdefault(e.device_id, e.ts)
    assert set(first) == {"p00", "p01"}, "the two failing pumps, and no other"
    assert first["p00"] - first["p01"] < 12 * 3600.0
