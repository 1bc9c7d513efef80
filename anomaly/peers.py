"""Fleet peer model: flags devices unlike the other devices of the same product model.

Per product model, an IsolationForest (scikit-learn) is refitted every
``refit_every_s`` of telemetry time on per-device window features: for each metric,
how far it sits toward its limit (fraction of the room from its healthy reference)
and its trend per day as a fraction of that room. scikit-learn's ``score_samples`` is
*lower = more abnormal*; the score here is its negation, so higher = more abnormal
(about 0.5 is ordinary, values toward 1 are isolated quickly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest


@dataclass(frozen=True, slots=True)
class PeerConfig:
    refit_every_s: float = 6 * 3600.0
    first_fit_after_s: float = 2 * 86400.0
    n_estimators: int = 50
    max_samples: int = 256
    min_devices: int = 20
    flag_score: float = 0.65
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FleetPeerModel:
    """Per-model IsolationForest over device features, refitted periodically.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0.0, 0.05, size=(200, 4))
    >>> X[0] = [0.8, 0.1, 0.5, 0.05]                  # one device far from its peers
    >>> scores = FleetPeerModel().fit_score(X)
    >>> bool(scores[0] > 0.65 and np.median(scores) < 0.5)
    True
    """

    def __init__(self, config: PeerConfig | None = None) -> None:
        self.config = config or PeerConfig()
        self._scores: dict[str, float] = {}
        self._next_fit: float | None = None
        self.fits = 0

    def fit_score(self, X: np.ndarray) -> np.ndarray:
        """Fit a forest on ``X`` (rows = devices) and score the same rows."""
        cfg = self.config
        forest = IsolationForest(
            n_estimators=cfg.n_estimators,
            max_samples=min(cfg.max_samples, len(X)),
            random_state=cfg.seed,
        )
        forest.fit(X)
        self.fits += 1
        return np.asarray(-forest.score_samples(X), dtype=float)

    def maybe_refit(
        self, ts: float, features: Callable[[], Iterable[tuple[list[str], np.ndarray]]]
    ) -> bool:
        """Refit every model's forest when its time has come; True if it refitted.

        ``features()`` gives, per product model, its device ids and their feature rows
        (computed only when a refit is due).
        """
        if self._next_fit is None:
            self._next_fit = ts + self.config.first_fit_after_s
        if ts < self._next_fit:
            return False
        self._next_fit = ts + self.config.refit_every_s
        for ids, X in features():
            if len(ids) >= self.config.min_devices:
                self._scores.update(zip(ids, self.fit_score(X).tolist(), strict=True))
        return True

    def score(self, device_id: str) -> float | None:
        """The device's last peer score (None before the first fit)."""
        return self._scores.get(device_id)

    def flagged(self, device_id: str) -> bool:
        s = self._scores.get(device_id)
        return s is not None and s >= self.config.flag_score

    def state_dict(self) -> dict[str, Any]:
        return {"scores": self._scores, "next_fit": self._next_fit, "fits": self.fits}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._scores = {k: float(v) for k, v in state["scores"].items()}
        self._next_fit = state["next_fit"]
        self.fits = int(state["fits"])
