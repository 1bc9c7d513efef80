"""The replay clock the demo runs on: telemetry time during the replay, wall time after."""

from __future__ import annotations

import doctest
import threading

import core.clock
from core.clock import ReplayClock
from core.readings import Reading


def test_docstring_examples() -> None:
    assert doctest.testmod(core.clock).failed == 0


def test_follows_the_newest_committed_reading_and_never_goes_back() -> None:
    clock = ReplayClock(start=1_000.0, wall=lambda: 9_999.0)
    assert clock() == 1_000.0
    clock.observe([Reading("a", 1_600.0, {"x": 1.0})])
    clock.observe([Reading("b", 1_200.0, {"x": 1.0})])  # a late device
    clock.observe([])
    assert clock() == 1_600.0


def test_live_clock_is_wall_time_but_not_before_the_replayed_end() -> None:
    wall = [5_000.0]
    clock = ReplayClock(start=1_000.0, wall=lambda: wall[0])
    clock.observe([Reading("a", 6_000.0, {"x": 1.0})])
    clock.go_live()
    assert clock.live and clock() == 6_000.0
    wall[0] = 7_000.0
    assert clock() == 7_000.0


def test_concurrent_observers_keep_the_maximum() -> None:
    clock = ReplayClock(start=0.0, wall=lambda: 0.0)

    def feed(offset: int) -> None:
        for i in range(2_000):
            clock.observe([Reading("d", float(i * 4 + offset), {"x": 1.0})])

    threads = [threading.Thread(target=feed, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock() == float(1_999 * 4 + 3)
