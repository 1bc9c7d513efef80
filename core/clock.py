"""Clocks the engine can run on: one type everywhere, float seconds since the epoch (UTC).

Code that stores or shows a time converts at that edge with :func:`utc`.

The engine asks one clock for "now" everywhere a decision depends on time: when a case
opens and its SLA falls due, whether a customer is in quiet hours, when a recovering
device has been healthy long enough to auto-resolve. A real fleet uses the wall clock.
The demo replays ten days of history in a minute, so it uses a :class:`ReplayClock`:
"now" is the newest telemetry the engine has seen, until the replay ends and the clock
goes live. Cases then open at the telemetry time that opened them, quiet hours fall in
the customers' simulated nights, and auto-resolve waits simulated hours, not real ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from core.readings import Reading

Clock = Callable[[], float]
"""Now, as float seconds since the Unix epoch (``time.time`` or a :class:`ReplayClock`)."""


def utc(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


class ReplayClock:
    """Telemetry time while a replay runs, then wall time (never going backwards).

    >>> clock = ReplayClock(start=100.0, wall=lambda: 1_000.0)
    >>> clock()
    100.0
    >>> clock.observe([Reading("d", 250.0, {"t": 1.0}), Reading("d", 200.0, {"t": 1.0})])
    >>> clock()
    250.0
    >>> clock.go_live()
    >>> clock()
    1000.0
    """

    def __init__(self, start: float, wall: Callable[[], float] = time.time) -> None:
        self.start = start
        self.wall = wall
        self._now = start
        self._live = False
        self._lock = threading.Lock()

    def observe(self, readings: Sequence[Reading]) -> None:
        """Advance to the newest reading of a committed batch."""
        if not readings:
            return
        newest = max(r.ts for r in readings)
        with self._lock:
            if newest > self._now:
                self._now = newest

    def go_live(self) -> None:
        """The replay is over: from now on follow the wall clock."""
        with self._lock:
            self._live = True

    @property
    def live(self) -> bool:
        return self._live

    def __call__(self) -> float:
        with self._lock:
            if self._live:
                self._now = max(self._now, self.wall())
            return self._now
