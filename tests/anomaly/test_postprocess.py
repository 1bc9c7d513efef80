"""Alarm logic: minimum duration, hysteresis, one event per problem, recovery, no flapping."""

from __future__ import annotations

from anomaly.postprocess import Alarm


def edges(alarm: Alarm, scores: list[float], start: float = 0.0, step: float = 600.0):
    return [(i, e) for i, s in enumerate(scores) if (e := alarm.step(start + i * step, s))]


def test_single_high_points_do_not_raise_an_alarm():
    alarm = Alarm(threshold=1.0, n=3, m=6)
    assert edges(alarm, [0, 5, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0]) == []


def test_n_of_m_raises_once_and_stays_raised():
    alarm = Alarm(threshold=1.0, n=3, m=6, clear=0.5, clear_n=4)
    got = edges(alarm, [0, 2, 0, 2, 0, 2, 2, 2, 2, 0.8, 2, 0.9])
    assert got == [(5, "anomaly")], "one event for one problem"
    assert alarm.active and alarm.started_at == 5 * 600.0


def test_hysteresis_scores_between_clear_and_threshold_keep_it_open():
    alarm = Alarm(threshold=1.0, n=1, m=1, clear=0.5, clear_n=3)
    got = edges(alarm, [2, 0.9, 0.8, 0.7, 0.9, 0.6, 0.9])
    assert got == [(0, "anomaly")]


def test_recovery_after_clear_n_healthy_points():
    alarm = Alarm(threshold=1.0, n=1, m=1, clear=0.5, clear_n=3)
    got = edges(alarm, [2, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1, 0.1])
    assert got == [(0, "anomaly"), (6, "recovery")], "the run of healthy points restarts"
    assert not alarm.active


def test_suppression_after_recovery_prevents_flapping():
    alarm = Alarm(threshold=1.0, n=1, m=1, clear=0.5, clear_n=2, suppress_s=3 * 600.0)
    got = edges(alarm, [2, 0, 0, 2, 2, 2, 2, 2])
    assert got == [(0, "anomaly"), (2, "recovery"), (5, "anomaly")]


def test_state_round_trip_mid_alarm():
    a = Alarm(threshold=1.0, n=2, m=3, clear_n=2)
    edges(a, [2, 2, 0.2])
    b = Alarm.from_state_dict(a.state_dict())
    tail = [0.2, 0.1, 2, 2]
    assert edges(a, tail, start=3 * 600.0) == edges(b, tail, start=3 * 600.0)
