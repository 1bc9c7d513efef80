"""Alarm logic, kept apart from scoring: threshold, N-of-M, hysteresis, suppression.

An ``Alarm`` turns a stream of scores into at most one "anomaly" edge per problem and
one "recovery" edge when the stream has been healthy again for a while:

- raise when at least ``n`` of the last ``m`` scores reach ``threshold``;
- while raised, nothing more is emitted (one problem, one event);
- clear only after ``clear_n`` consecutive scores below ``clear`` (hysteresis);
- after a recovery, stay quiet for ``suppress_s`` seconds (no flapping).
"""

from __future__ import annotations

from typing import Any, Literal

from anomaly.stateful import Stateful

Edge = Literal["anomaly", "recovery"] | None


class Alarm(Stateful):
    """Per-stream alarm state machine; ``step(ts, score)`` returns an edge or None.

    Examples
    --------
    >>> alarm = Alarm(threshold=1.0, clear=0.5, n=2, m=3, clear_n=2)
    >>> [alarm.step(float(t), s) for t, s in enumerate([0, 2, 0, 2, 2, 0.8, 0.1, 0.1, 0])]
    [None, None, None, 'anomaly', None, None, None, 'recovery', None]
    """

    __slots__ = (
        "threshold",
        "clear",
        "n",
        "m",
        "clear_n",
        "suppress_s",
        "_bits",
        "_below",
        "active",
        "started_at",
        "_quiet_until",
    )

    def __init__(
        self,
        threshold: float = 1.0,
        clear: float = 0.5,
        n: int = 3,
        m: int = 6,
        clear_n: int = 36,
        suppress_s: float = 6 * 3600.0,
    ) -> None:
        self.threshold = threshold
        self.clear = clear
        self.n = n
        self.m = m
        self.clear_n = clear_n
        self.suppress_s = suppress_s
        self._bits = 0
        self._below = 0
        self.active = False
        self.started_at: float | None = None
        self._quiet_until = float("-inf")

    def step(self, ts: float, score: float) -> Edge:
        """Feed one score; return "anomaly" on raise, "recovery" on clear, else None."""
        self._bits = ((self._bits << 1) | (score >= self.threshold)) & ((1 << self.m) - 1)
        if not self.active:
            if self._bits.bit_count() >= self.n and ts >= self._quiet_until:
                self.active = True
                self.started_at = ts
                self._below = 0
                return "anomaly"
            return None
        self._below = self._below + 1 if score < self.clear else 0
        if self._below >= self.clear_n:
            self.active = False
            self.started_at = None
            self._bits = 0
            self._quiet_until = ts + self.suppress_s
            return "recovery"
        return None

    def _state(self) -> dict[str, Any]:
        quiet = None if self._quiet_until == float("-inf") else self._quiet_until
        return {
            "bits": self._bits,
            "below": self._below,
            "active": self.active,
            "started_at": self.started_at,
            "quiet_until": quiet,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self._bits = int(state["bits"])
        self._below = int(state["below"])
        self.active = bool(state["active"])
        self.started_at = state["started_at"]
        quiet = state["quiet_until"]
        self._quiet_until = float("-inf") if quiet is None else float(quiet)
