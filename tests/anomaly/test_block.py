"""The compiled StreamBlock computes exactly what the scalar MetricStream computes.

MetricStream is the readable reference (one stream, one value at a time); the bank runs
StreamBlock over every device of a batch. Both see the same simulated fleet (failures,
benign changes, dropouts, the daily cycle) and must agree on every number and edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from anomaly import kernel as k
from anomaly.bank import DetectorBank
from anomaly.block import ANOMALY, RECOVERY, StreamBlock
from anomaly.evaluate import START_TS
from anomaly.stream import MetricStream, StreamConfig
from core.profiles import MetricSpec, load_profiles
from core.readings import Reading
from simulator.fleet import Fleet
from tests.anomaly.series import healthy, quantised, sample_and_hold, steady_spell, with_held

PROFILES = load_profiles()
CFG = StreamConfig()
EDGE = {ANOMALY: "anomaly", RECOVERY: "recovery"}


def _same(a: float | None, b: float) -> bool:
    a = math.nan if a is None else a
    return (math.isnan(a) and math.isnan(b)) or a == b


def _compare(stream: MetricStream, block: StreamBlock, row: int) -> list[str]:
    F, IX = block.F[row], block.IX[row]
    checks = {
        "score": (stream.score, F[k.SCORE]),
        "level_frac": (stream.level_frac, F[k.LEVEL_FRAC]),
        "out": (stream.out, F[k.OUT]),
        "spikes": (stream.spikes, F[k.SPIKES]),
        "smooth": (stream.smooth, F[k.SMOOTH]),
        "deseason": (stream.deseason, F[k.DESEASON]),
        "ramping": (stream.ramping, F[k.RAMPING]),
        "cusum.up": (stream.cusum._up, F[k.UP]),
        "cusum.down": (stream.cusum._down, F[k.DOWN]),
        "cusum.level": (stream.cusum.reference._level, F[k.REF_LEVEL]),
        "cusum.spread": (stream.cusum.reference._spread, F[k.REF_SPREAD]),
        "trend.t": (stream.trend._t, F[k.T_T]),
        "trend.t_fast": (stream.trend.t_fast, F[k.T_TFAST]),
        "trend.dl": (stream.trend.dl, F[k.T_DL]),
        "trend.dl_var": (stream.trend.dl_var, F[k.T_DLVAR]),
        "trend.held_sq": (stream.trend._held_sq, F[k.T_HELD_SQ]),
        "trend.held_n": (float(stream.trend._held_n), F[k.T_HELD_N]),
        "drift": (stream.drift, F[k.DRIFT]),
        "trend.eta": (stream.trend.eta_ts, F[k.T_ETA]),
        "trend.rate": (stream.trend.rate_per_day, F[k.T_RATE]),
        "trend.ramp": (stream.trend.ramp, F[k.T_RAMP]),
        "alarm.active": (float(stream.alarm.active), float(IX[k.ACTIVE])),
        "run": (float(stream._run), float(IX[k.RUN])),
        "hot": (float(stream._hot), float(IX[k.HOT])),
        "jump_at": (stream._jump_at, F[k.JUMP_AT]),
        "gain_prev": (stream._gain_prev, F[k.GAIN_PREV]),
        "gain_at2": (stream._gain_at2, F[k.GAIN_AT2]),
        "gain_from2": (stream._gain_from2, F[k.GAIN_FROM2]),
        "gain_prev2": (stream._gain_prev2, F[k.GAIN_PREV2]),
        "gain_old": (stream._gain_old, F[k.GAIN_OLD]),
        "gain_old2": (stream._gain_old2, F[k.GAIN_OLD2]),
        "gain_jump": (stream._gain_jump, F[k.GAIN_JUMP]),
        "hold_jump": (stream._hold_jump, F[k.HOLD_JUMP]),
        "hold_rate": (stream._hold_rate, F[k.HOLD_RATE]),
        "flat": (stream._flat, F[k.FLAT]),
        "stepped": (stream._stepped, F[k.STEPPED]),
        "away_calm": (stream._away_calm, F[k.AWAY_CALM]),
        "away_step": (stream._away_step, F[k.AWAY_STEP]),
        "flat_since": (
            stream._flat_since if stream._flat_since is not None else math.nan,
            F[k.FLAT_SINCE],
        ),
    }
    return [name for name, (a, b) in checks.items() if not _same(a, float(b))]


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(18, 5, 0.5, START_TS, 16.0, 600.0, benign_rate=0.4)


# the shipped settings, the two-day fit that may stand for the trend (eighth round) with
# the step veto that spares a bend (twenty-second round), and
# the eighteenth round's options: the t's spread about a line with the drift's level now,
# and that spread held to half the plain one with a partly counted acceleration
@pytest.mark.parametrize(
    "cfg",
    [
        CFG,
        replace(CFG, trend_fit_fast=48, veto_bend=2.5),
        replace(CFG, trend_detrend=1.0, drift_now=1.0),
        replace(CFG, trend_detrend=0.5, accel_soft=1.5),
    ],
    ids=["default", "fast", "young", "soft"],
)
def test_block_matches_metric_stream_value_for_value(fleet: Fleet, cfg: StreamConfig) -> None:
    models = {d.device_id: d.model for d in fleet.devices}
    streams: dict[tuple[str, str], MetricStream] = {}
    blocks: dict[tuple[str, str], StreamBlock] = {}
    rows: dict[tuple[str, str], int] = {}
    edges: dict[str, list[tuple[float, str, str, str]]] = {"scalar": [], "block": []}
    for _, readings in fleet.ticks():
        groups: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
        for r in readings:
            for metric, x in r.metrics.items():
                key = (models[r.device_id], metric)
                spec = PROFILES[key[0]].metrics[metric]
                block = blocks.setdefault(key, StreamBlock(spec, cfg))
                if (r.device_id, metric) not in streams:
                    streams[r.device_id, metric] = MetricStream(spec, cfg)
                    rows[r.device_id, metric] = block.add()
                edge = streams[r.device_id, metric].update(r.ts, x)
                if edge:
                    edges["scalar"].append((r.ts, r.device_id, metric, edge))
                groups.setdefault(key, []).append((r.device_id, r.ts, x))
        for key, values in groups.items():
            idx = np.array([rows[d, key[1]] for d, _, _ in values])
            ts = np.array([t for _, t, _ in values])
            out = blocks[key].update(idx, ts, np.array([x for _, _, x in values]))
            for (device, t, _), e in zip(values, out.tolist(), strict=True):
                if e:
                    edges["block"].append((t, device, key[1], EDGE[e]))
                wrong = _compare(streams[device, key[1]], blocks[key], rows[device, key[1]])
                assert not wrong, f"{device} {key[1]} at {t}: {wrong} differ"
    assert edges["block"] == edges["scalar"]
    assert edges["scalar"], "the fleet's failures raise alarms"


# the shipped settings, and a trend whose t uses only the pairs of its last two days
@pytest.mark.parametrize("cfg", [CFG, replace(CFG, trend_fit=48)], ids=["default", "fit48"])
def test_outages_longer_than_the_window_and_a_passing_fault_match(cfg: StreamConfig) -> None:
    spec = PROFILES["aircon-x1"].metrics["filter_dp_pa"]
    stream, block = MetricStream(spec, cfg), StreamBlock(spec, cfg)
    row, ts, seen = block.add(), START_TS, []
    for i in range(3000):
        ts += 600.0 if i % 700 else 86400.0 * (4 if i % 1400 else 1.3)  # outages
        fault = 100.0 if 1000 <= i < 1060 else 0.0  # 10 h past the limit, then gone
        x = 60.0 + 0.002 * i + math.sin(i / 9.0) + fault
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, i
        assert not _compare(stream, block, row), i
        seen += [edge] if edge else []
    assert seen == ["anomaly", "recovery"]


def _bearing(seed: int, days: int, extra: Callable[[float], float]) -> list[tuple[float, float]]:
    """A pump's bearing every 10 minutes (45 degrees, a daily cycle of 2, noise 0.4)
    plus ``extra(day)``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(days * 144):
        ts, day = START_TS + 600.0 * i, i / 144
        x = 45.0 + 2.0 * math.sin(2 * math.pi * ts / 86400.0) + rng.normal(0.0, 0.4)
        out.append((ts, x + extra(day)))
    return out


def _lockstep(spec: MetricSpec, series: list[tuple[float, float]]) -> tuple[MetricStream, list]:
    """``series`` through the reference stream and a block row side by side, compared
    value for value; the reference stream and its alarm edges."""
    stream, block = MetricStream(spec, CFG), StreamBlock(spec, CFG)
    row, seen = block.add(), []
    for ts, x in series:
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, f"edge at {ts}"
        wrong = _compare(stream, block, row)
        assert not wrong, f"{wrong} differ at {ts}"
        seen += [edge] if edge else []
    return stream, seen


def _gain_jump_day(series: list[tuple[float, float]]) -> float:
    """A pump's bearing ``series`` in lockstep: the day of the gain rule's jump (NaN: none)."""
    stream, _ = _lockstep(PROFILES["pump-p3"].metrics["bearing_temp_c"], series)
    return (stream._gain_jump - START_TS) / 86400.0


def _step_while_out(seed: int, step: float) -> list[tuple[float, float]]:
    """A pump's bearing: 0.8 days of a spell of its own puts its CUSUM out of control,
    and 0.2 days after the spell is gone (the CUSUM still out, no longer climbing) its
    level steps by ``step`` degrees (a replaced sensor, a firmware update) to the normal
    range's edge; the next spell, 1.5 days on, would push it past that edge."""

    def extra(day: float) -> float:
        spell = 1.5 if 6.0 <= day < 6.8 else 0.0
        return spell + (step if day >= 7.0 else 0.0) + 2.0 * math.exp(-(((day - 8.5) / 0.8) ** 2))

    return _bearing(seed, 14, extra)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_spell_is_learned_as_wander_and_a_repaired_fault_is_not(seed: int) -> None:
    # a spell the unit comes back from is learned late as its wander; a fault whose
    # case is open, then repaired, is not (Trend._wander, drop_held). Kernel and
    # reference alike, the spell's learning and the case's guard both taken
    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]

    def extra(day: float) -> float:
        spell = 1.5 if 6.0 <= day < 6.8 else 0.0
        wear = 35.0 * ((day - 9.0) / 5.0) ** 2 if 9.0 <= day < 12.0 else 0.0
        return spell + wear

    stream, seen = _lockstep(spec, _bearing(seed, 15, extra))
    assert seen[:1] == ["anomaly"]
    # 0.57 after the spell; the repair's drop is learned as a move away from the limit
    # (each hour's capped at 3 times the RMS) and takes it to 1.3; the fault's own
    # rise, learned as well, would have made it 2.6-2.8
    assert 0.2 < math.sqrt(stream.trend.dl_var) < 2.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_step_while_the_cusum_is_already_out_is_a_jump(seed: int) -> None:
    # a step never goes from calm to the threshold when the CUSUM is already out: per
    # hour, a CUSUM that gains its whole threshold after an hour that gained under CALM
    # has stepped; the new level settles as the unit's own, so the next spell does not
    # push it "out of its normal range". Kernel and reference alike.
    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]
    for step in (7.0, 0.0):  # without the rule the step opens a case on these seeds
        stream, seen = _lockstep(spec, _step_while_out(seed, step))
        assert not seen, (step, seen)
        if step:
            day = (stream._gain_jump - START_TS) / 86400.0
            assert 7.0 <= day < 7.1, "the step is the jump"


@pytest.mark.parametrize("seed", [1, 2])
def test_a_shift_held_away_from_the_limit_becomes_the_new_normal(seed: int) -> None:
    # a relocated pump's bearing runs 3 degrees cooler from day 6: away from its limit,
    # so no alarm, and its reference once learned nothing again (the sum away from the
    # limit grew without end); held for rebase_days it is taken as the new normal
    series = _bearing(seed, 12, lambda day: -3.0 if day >= 6.0 else 0.0)
    stream, seen = _lockstep(PROFILES["pump-p3"].metrics["bearing_temp_c"], series)
    assert not seen
    assert stream.cusum.learning
    assert stream.cusum.reference.expected_mean() == pytest.approx(42.0, abs=0.3)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_spell_that_holds_a_unit_away_from_the_limit_is_no_new_normal(seed: int) -> None:
    # the same bearing cools by 3 degrees over 12 hours from day 6 and stays there (a
    # unit alone in its region in a cool spell): not a step, so after 4 days away its
    # reference is still its own level, and the spell's end will be no rise
    def spell(day: float) -> float:
        return -3.0 * min(max((day - 6.0) * 2.0, 0.0), 1.0)

    stream, seen = _lockstep(
        PROFILES["pump-p3"].metrics["bearing_temp_c"], _bearing(seed, 10, spell)
    )
    assert not seen
    assert not stream.cusum.learning
    assert stream.cusum.reference.expected_mean() == pytest.approx(45.0, abs=0.3)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_creep_that_began_within_the_day_matches_and_is_a_ramp(seed: int) -> None:
    # a bearing that starts to heat on day 7 by 0.4 degrees an hour: 18 hours on, the last
    # day's hourly means are flat, then a line (trend._bent, kernel_trend._bent); the
    # ramp opens the case, kernel and reference alike, within the day; a step of the same
    # 6 degrees at the same hour is no creep
    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]
    creep = _bearing(seed, 9, lambda day: max(0.0, (day - 7.0) * 24.0 * 0.4))
    stream, seen = _lockstep(spec, [(ts, x) for ts, x in creep if ts < START_TS + 7.75 * 86400.0])
    assert seen == ["anomaly"]
    assert stream.ramping >= 1.0
    step = _bearing(seed, 9, lambda day: 6.0 if day >= 7.0 else 0.0)
    stream, seen = _lockstep(spec, [(ts, x) for ts, x in step if ts < START_TS + 7.75 * 86400.0])
    assert stream.trend.ramp < 1.0


def _step_while_partly_out(seed: int) -> list[tuple[float, float]]:
    """A pump's bearing: 2.4 hours of a small spell of its own leave its CUSUM part of
    the way to its threshold (0.4-0.6 of it on these seeds, neither calm nor out), and an
    hour later its level steps by 7 degrees."""
    return _bearing(seed, 9, lambda day: (6.85 <= day < 6.95) * 1.0 + (day >= 7.0) * 7.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_step_while_the_cusum_is_partly_out_is_a_jump(seed: int) -> None:
    # between calm (the calm-to-threshold rule) and out (the rule above) there was a
    # gap: a firmware step that came while a little of a spell was left in the CUSUM
    # was no jump, and the trend read the step as a slope
    day = _gain_jump_day(_step_while_partly_out(seed))
    assert 7.0 <= day < 7.1, "the step is the jump"


def test_a_held_sensor_s_flatline_evidence_matches() -> None:
    # a steady pump's sample-and-hold vibration sensor holds one sample for 20 hours:
    # the share of repeats and each repeat's weight toward the flatline, kernel and
    # reference value for value
    _lockstep(PROFILES["pump-p3"].metrics["vibration_mm_s"], steady_spell(3, 0.12))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_a_window_s_gain_is_whole_with_the_reading_that_closes_it(seed: int) -> None:
    # a 1.8-degree step (about 4 sigma) while the CUSUM is partly out gains its whole
    # threshold in six readings: the hour from the window's first reading to the one
    # that closes it (and opens the next). Judged only on the readings inside the
    # window, it gained under one threshold in this hour and the next hour's gain was
    # no step: a relocated pump on a sample-and-hold flow sensor opened a case so
    def extra(day: float) -> float:
        return (6.85 <= day < 6.95) * 1.0 + (day >= 7.0) * 1.8

    day = _gain_jump_day(_bearing(seed, 9, extra))
    assert 7.0 <= day < 7.1, "the step is the jump"


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_a_step_late_in_a_window_is_whole_in_the_other_set_s(seed: int) -> None:
    # a 2.5-degree step while the CUSUM is partly out, 50 minutes into an hour's window:
    # that window gains under one threshold (two readings of the step), and the next
    # one gains it all but is not after a calm window. The second set of windows, half
    # an hour later, holds the step whole: a re-flashed water heater opened a
    # "normal-range" case so
    def extra(day: float) -> float:
        return (6.85 <= day < 6.95) * 1.0 + (day >= 7.0 + 50 / 1440) * 2.5

    day = _gain_jump_day(_bearing(seed, 9, extra))
    assert 7.03 <= day < 7.1, "the step is the jump"


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_a_step_after_an_hour_that_gained_a_little_is_a_jump(seed: int) -> None:
    # a pump's bearing: the tail of a spell keeps its CUSUM part of the way out (0.2
    # degree warm: it neither gains nor falls), in the hour before midnight it runs
    # 0.6 warmer (the CUSUM gains 0.2-0.35 of its threshold: more than CALM), and at
    # midnight it steps 2.5 degrees. The hour of the step gains over five times what
    # the two hours before it did together: a jump. Relocated pumps whose CUSUM a
    # spell kept gaining a little opened "normal-range" cases hours after the move
    def extra(day: float) -> float:
        late = 7.0 - 1 / 24 <= day < 7.0
        return (6.6 <= day < 6.7) * 1.0 + (day >= 6.7) * 0.2 + late * 0.6 + (day >= 7.0) * 2.5

    day = _gain_jump_day(_bearing(seed, 8, extra))
    assert 7.0 <= day < 7.1, "the step is the jump"


@pytest.mark.parametrize("seed", [5, 11, 13])
def test_a_sudden_step_from_calm_is_a_jump_after_a_day_that_was_not_quiet(seed: int) -> None:
    # a spell of its own kept the pump's CUSUM out until the evening; at midnight,
    # calm again, its bearing steps 2.5 degrees (6 sigma). From calm to the threshold
    # at the CUSUM's cap takes under 45 minutes: a jump, though the CUSUM was out in
    # the day before (the quiet day guards against a fault's daily peak, which builds
    # over hours). Here no window of the gain rule starts out of calm and gains it all
    # after a calm one; a re-flashed water heater opened a "normal-range" case so
    def extra(day: float) -> float:
        return (6.0 <= day < 6.25) * 1.5 + (day >= 7.0) * 2.5

    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]
    series = [p for p in _bearing(seed, 8, extra) if p[0] < START_TS + 7.1 * 86400.0]
    head = [p for p in series if p[0] < START_TS + 7.0 * 86400.0]
    before, _ = _lockstep(spec, head)
    assert before._calm_at == head[-1][0], "calm when it steps"
    assert before._out_at - START_TS > 6.5 * 86400.0, "out in the day before"
    stream, _ = _lockstep(spec, series)
    day = (stream._jump_at - START_TS) / 86400.0
    assert 7.0 <= day < 7.1, "the step is the jump"


def test_the_two_sets_of_windows_stay_half_a_window_apart_across_a_gap() -> None:
    # a pump off for five hours: the first reading after the gap closes a window of
    # each set; the second set opens its next one half an hour later, not on that
    # same reading (else the two sets would be one from then on)
    def gap(ts: float) -> bool:
        return 1.5 <= (ts - START_TS) / 86400.0 < 1.5 + 5 / 24

    series = [p for p in _bearing(1, 3, lambda day: 0.0) if not gap(p[0])]
    stream, _ = _lockstep(PROFILES["pump-p3"].metrics["bearing_temp_c"], series)
    assert abs(stream._gain_at2 - stream._gain_at) == 1800.0


def test_a_fault_that_grows_while_the_cusum_is_out_is_no_jump() -> None:
    # a wear that grows as the square of time raises the CUSUM's gain hour by hour,
    # never from a flat hour to a whole threshold: it is caught as a drift
    stream, seen = MetricStream(PROFILES["pump-p3"].metrics["bearing_temp_c"], CFG), []

    def wear(day: float) -> float:
        return (1.5 if 6.0 <= day < 6.8 else 0.0) + 35.0 * max(0.0, (day - 7.0) / 5.0) ** 2

    for ts, x in _bearing(4, 16, wear):
        if edge := stream.update(ts, x):
            seen.append(((ts - START_TS) / 86400.0, edge))
    assert stream._gain_jump != stream._gain_jump, "no jump"
    assert seen and seen[0][1] == "anomaly" and 7.0 < seen[0][0] < 11.0, seen


def _bank_events(batches: list[list[Reading]], models: dict[str, str]) -> list[dict]:
    bank = DetectorBank(PROFILES, models.get)
    return [e.to_dict() for batch in batches for e in bank.update(batch)]


def test_a_device_twice_in_one_batch_is_handled_in_order(fleet: Fleet) -> None:
    models = {d.device_id: d.model for d in fleet.devices}
    ticks = [readings for _, readings in fleet.ticks()][: 10 * 144]
    one_by_one = _bank_events(ticks, models)
    two_ticks = [ticks[i] + ticks[i + 1] for i in range(0, len(ticks) - 1, 2)]
    if len(ticks) % 2:
        two_ticks.append(ticks[-1])
    assert _bank_events(two_ticks, models) == one_by_one
    assert one_by_one, "the fleet has failures to detect"


def test_whole_histories_in_one_call_match_value_by_value() -> None:
    spec = PROFILES["pump-p3"].metrics["flow_lpm"]
    block = StreamBlock(spec, CFG)
    rows = [block.add() for _ in range(3)]
    streams = [MetricStream(spec, CFG) for _ in rows]
    rng = np.random.default_rng(4)
    n = 6 * 144
    ts = START_TS + 600.0 * np.arange(n)
    drop = np.clip(np.arange(n) - 3 * 144, 0, None) * 0.03  # a clog from day 3
    histories = [100.0 - drop * (row == 1) + rng.normal(0, 1.5, n) for row in rows]
    order = np.r_[np.repeat(rows, n)]  # each device's history in one piece
    values = np.concatenate(histories)
    edges = block.update(order, np.tile(ts, len(rows)), values)
    expected = [
        s.update(t, x)
        for s, h in zip(streams, histories, strict=True)
        for t, x in zip(ts.tolist(), h.tolist(), strict=True)
    ]
    assert [EDGE.get(int(e)) for e in edges] == expected
    assert "anomaly" in expected[n : 2 * n] and "anomaly" not in expected[:n] + expected[2 * n :]
    for row, stream in zip(rows, streams, strict=True):
        assert not _compare(stream, block, row)


def test_a_shift_taken_as_the_new_normal_matches_and_moves_the_reference() -> None:
    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]  # normal 42-52, limit 80
    stream, block = MetricStream(spec, CFG), StreamBlock(spec, CFG)
    row, edges = block.add(), []
    for i in range(6000):  # 10-minute readings; the unit sits 3 degrees higher from day 12
        ts = START_TS + 600.0 * i
        x = 45.0 + 2.0 * math.sin(2 * math.pi * i / 144) + 0.6 * math.sin(i * 1.7)
        x += 3.0 if i >= 1728 else 0.0
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, i
        assert not _compare(stream, block, row), i
        edges += [edge] if edge else []
    assert edges == [], "a flat shift inside the normal range is no fault"
    assert abs(stream.cusum.reference.expected_mean() - 48.0) < 0.5
    assert abs(block.F[row, k.HOME] - 48.0) < 0.5, "the device's own level moved too"


@pytest.mark.parametrize("shared", [True, False])
def test_an_excursion_the_cohort_shared_matches_and_is_not_counted(shared: bool) -> None:
    # the cohort filter tells both what it took out of each value (``common``): a jump
    # the whole cohort made shows as an excursion until the common estimate catches up
    spec = PROFILES["pump-p3"].metrics["motor_current_a"]
    stream, block = MetricStream(spec, CFG), StreamBlock(spec, CFG)
    row, jump = block.add(), 0.4 * (spec.limit - 3.0)
    for i in range(8 * 144):
        ts = START_TS + 600.0 * i
        x = 3.0 + 0.05 * math.sin(i / 7.0)
        common = 0.0
        if i >= 6 * 144:  # everyone jumps; the common catches up over two hours
            common = jump * min(1.0, (i - 6 * 144) / 12.0) if shared else 0.0
            x += jump - common if shared else (jump if i < 6 * 144 + 6 else 0.0)
        stream.common = block.F[row, k.COMMON] = common
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, i
        assert not _compare(stream, block, row), i
    assert (stream.spikes == 0.0) == shared


@pytest.mark.parametrize("coupling", [0.0, 0.5])
@pytest.mark.parametrize("fault", [False, True])
def test_a_trend_a_coupling_error_explains_matches_and_is_not_a_trend(
    coupling: float, fault: bool
) -> None:
    # a three-day warm spell moves the whole cohort 1.5 degrees a day; the filter took
    # it out (``common``) with a coupling 0.3 too small for this unit, so 0.3 of the
    # spell is left in its values: a trend in every day-lag difference
    spec = PROFILES["pump-p3"].metrics["bearing_temp_c"]  # normal 42-52, limit 80, up
    cfg = replace(CFG, trend_coupling=coupling)
    stream, block = MetricStream(spec, cfg), StreamBlock(spec, cfg)
    row, top = block.add(), 0.0
    for i in range(10 * 144):
        ts = START_TS + 600.0 * i
        days = max(0.0, i / 144.0 - 6.0)
        common = 1.5 * min(days, 3.0)
        x = 45.0 + 2.0 * math.sin(2 * math.pi * i / 144) + 0.3 * math.sin(i * 1.7)
        x += 0.3 * common + (1.5 * days if fault else 0.0)  # a fault of its own: 1.5/day
        stream.common = block.F[row, k.COMMON] = common
        edge = stream.update(ts, x)
        out = block.update(np.array([row]), np.array([ts]), np.array([x]))
        assert EDGE.get(int(out[0])) == edge, i
        assert not _compare(stream, block, row), i
        top = max(top, stream.trend._t)
    if fault:
        assert top >= 2 * cfg.t_min, "the unit's own rise is a trend, spell or not"
    elif coupling:
        assert top < cfg.t_min, "what a coupling error of 0.5 explains is no trend"
    else:
        assert top >= cfg.t_min, "without the rule the leaked spell is a trend"


@pytest.mark.parametrize("sensor", ["held", "quantised"])
def test_a_held_sensor_s_repeats_match(sensor: str) -> None:
    # a sample-and-hold sensor's repeats count toward an excursion less its deadband, a
    # quantised one's in full: kernel and reference agree value for value, through a
    # held sample and a far one
    spec = PROFILES["aircon-x1"].metrics["cooling_delta_c"]
    series = healthy(8 * 144, seed=2, level=10.0, noise=spec.noise)
    if sensor == "held":
        series = sample_and_hold(series, 2.0 * spec.noise)
    else:
        series = quantised(series, 2.0 * spec.noise)
    series = with_held(with_held(series, 6 * 144, -2.4, 5), 7 * 144, -3.5, 5)
    _, edges = _lockstep(spec, series)
    assert edges, "the far held sample raises an alarm"
