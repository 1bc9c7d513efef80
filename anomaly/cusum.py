"""Drift / change detection: a two-sided CUSUM on robust z against a slow baseline.

The reference is a slow ``SeasonalBaseline`` that only learns while the CUSUM is
in control (both sums near zero), so a persistent shift accumulates instead of being
absorbed into the reference.
"""

from __future__ import annotations

from typing import Any

from anomaly.seasonal import SeasonalBaseline
from anomaly.stateful import Stateful


class Cusum(Stateful):
    """Score = the CUSUM sum (in noise sigmas) for the chosen ``direction``.

    ``k`` is the allowance per point (half the shift to detect, in sigmas); ``z_cap``
    bounds one point's contribution so a lone spike cannot raise the alarm by itself.
    ``relearn`` is the sum below which the reference keeps learning. With ``max_hold``
    > 0, a shift that keeps the sums above ``relearn`` for that many points is accepted
    as the new normal (the reference jumps to the recent level and the sums reset).

    Examples
    --------
    >>> det = Cusum(warmup=50)
    >>> for i in range(300):
    ...     det.learn_one(600.0 * i, 5.0 + 0.2 * ((i * 7) % 5 - 2))
    >>> det.score_one(600.0 * 300, 5.0) < 1
    True
    >>> for i in range(300, 340):
    ...     det.learn_one(600.0 * i, 7.0)
    >>> det.score_one(600.0 * 340, 7.0) > 20
    True
    """

    __slots__ = (
        "k",
        "z_cap",
        "relearn",
        "alpha",
        "season_alpha",
        "warmup",
        "direction",
        "max_hold",
        "min_scale",
        "_ref",
        "_up",
        "_down",
        "_hold",
        "_recent",
        "last_z",
    )

    def __init__(
        self,
        k: float = 0.5,
        z_cap: float = 4.0,
        relearn: float = 2.0,
        alpha: float = 0.003,
        season_alpha: float = 0.1,
        warmup: int = 144,
        direction: str = "both",
        max_hold: int = 0,
        min_scale: float = 1e-9,
    ) -> None:
        self.k = k
        self.z_cap = z_cap
        self.relearn = relearn
        self.alpha = alpha
        self.season_alpha = season_alpha
        self.warmup = warmup
        self.direction = direction
        self.max_hold = max_hold
        self.min_scale = min_scale
        self._hold = 0
        self._recent = 0.0
        self.last_z = 0.0  # robust z of the last value learned (uncapped, signed)
        self._ref = SeasonalBaseline(
            alpha=alpha,
            season_alpha=season_alpha,
            warmup=warmup,
            min_count=12,
            min_scale=min_scale,
        )
        self._up = 0.0
        self._down = 0.0

    @property
    def reference(self) -> SeasonalBaseline:
        return self._ref

    @property
    def learning(self) -> bool:
        """Both sums are under ``relearn``: the reference learns from each value."""
        return self._up < self.relearn and self._down < self.relearn

    @property
    def away(self) -> float:
        """The sum against ``direction`` (a shift away from the limit), 0 for both."""
        if self.direction == "up":
            return self._down
        if self.direction == "down":
            return self._up
        return 0.0

    def _sums(self, ts: float, value: float) -> tuple[float, float]:
        if not self._ref.ready(ts):
            return self._up, self._down
        return self._step(self._ref.deviation(ts, value))

    def _step(self, z: float) -> tuple[float, float]:
        z = self.z_cap if z > self.z_cap else (-self.z_cap if z < -self.z_cap else z)
        up = self._up + z - self.k
        down = self._down - z - self.k
        return (up if up > 0.0 else 0.0), (down if down > 0.0 else 0.0)

    def score_one(self, ts: float, value: float) -> float:
        up, down = self._sums(ts, value)
        if self.direction == "up":
            return up
        if self.direction == "down":
            return down
        return up if up > down else down

    def learn_one(self, ts: float, value: float) -> None:
        ready = self._ref.ready(ts)
        if ready:
            z = self.last_z = self._ref.deviation(ts, value)
            self._up, self._down = self._step(z)
        else:
            self.last_z = 0.0
        if not ready or (self._up < self.relearn and self._down < self.relearn):
            self._ref.learn_one(ts, value)
            self._hold = 0
        elif self.max_hold > 0:
            self._recent += 0.1 * (value - self._ref.expected(ts) - self._recent)
            self._hold += 1
            if self._hold > self.max_hold:
                self._ref.shift(self._recent)
                self._hold = 0
                self._recent = 0.0
                self.reset()

    def update(self, ts: float, value: float) -> float:
        self.learn_one(ts, value)
        d = self.direction
        if d == "up":
            return self._up
        if d == "down":
            return self._down
        return self._up if self._up > self._down else self._down

    def accept(self, level: float) -> None:
        """Take ``level`` (a de-seasonalised mean) as the new normal; forget the sums."""
        if level == level and self._ref.warm:
            self._ref.shift(level - self._ref.expected_mean())
        self.reset()

    def reset(self) -> None:
        """Forget the accumulated sums (after an alarm was handled)."""
        self._up = self._down = 0.0

    def _state(self) -> dict[str, Any]:
        return {
            "ref": self._ref.state_dict(),
            "up": self._up,
            "down": self._down,
            "hold": self._hold,
            "recent": self._recent,
            "last_z": self.last_z,
        }

    def _load(self, state: dict[str, Any]) -> None:
        self._ref.load_state_dict(state["ref"])
        self._up = float(state["up"])
        self._down = float(state["down"])
        self._hold = int(state["hold"])
        self._recent = float(state["recent"])
        self.last_z = float(state["last_z"])
