"""Every stream of one metric of one product model, updated a batch at a time.

:class:`StreamBlock` is :class:`anomaly.stream.MetricStream` for many devices at once:
the same detectors, evidence, score and alarm, operation for operation, on numpy
columns (one row per device). ``update(idx, ts, x)`` takes one value for each of the
rows ``idx`` (distinct) and returns their alarm edges (``NONE``, ``ANOMALY``,
``RECOVERY``). ``tests/anomaly/test_block.py`` holds it to MetricStream's results, so
MetricStream stays the readable reference and this the fleet's fast path.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from anomaly.block_cusum import CusumColumns
from anomaly.block_trend import TrendColumns
from anomaly.columns import Columns, Field
from anomaly.profiles import MetricSpec
from anomaly.stream import StreamConfig

F8, I8 = np.float64, np.int64
NAN = float("nan")
NONE, ANOMALY, RECOVERY = 0, 1, 2


class StreamBlock(Columns):
    """Streams of one metric: smoothing, excursions, flatline, drift gate and alarm."""

    FIELDS: ClassVar[dict[str, Field]] = {
        "smooth": (0.0, (), F8), "deseason": (0.0, (), F8), "spikes": (0.0, (), F8),
        "score": (0.0, (), F8), "drift": (0.0, (), F8), "level_frac": (0.0, (), F8),
        "out": (0.0, (), F8), "run": (0, (), I8), "back": (0, (), I8),
        "above": (0, (), I8), "zbar": (0.0, (), F8), "flat": (0, (), I8),
        "last": (NAN, (), F8), "flat_since": (NAN, (), F8), "n": (0, (), I8),
        "fits_seen": (0, (), I8), "hot": (0, (), I8), "ramping": (0.0, (), F8),
        "bits": (0, (), I8), "below": (0, (), I8), "active": (False, (), np.bool_),
        "started_at": (NAN, (), F8), "quiet_until": (-np.inf, (), F8),
    }  # fmt: skip

    def __init__(self, spec: MetricSpec, cfg: StreamConfig, capacity: int = 0) -> None:
        self.spec, self.cfg = spec, cfg
        self.sign = 1.0 if spec.direction == "up" else -1.0
        self.edge = spec.normal[1] if spec.direction == "up" else spec.normal[0]
        self.cusum = CusumColumns(capacity, k=cfg.cusum_k, alpha=cfg.cusum_alpha,
                                  warmup=cfg.warmup, direction=spec.direction)  # fmt: skip
        self.trend = TrendColumns(capacity, window=cfg.trend_window, lag=cfg.trend_lag,
                                  limit=spec.limit, direction=spec.direction,
                                  step_veto=cfg.step_veto,
                                  quantile=cfg.trend_quantile)  # fmt: skip
        super().__init__(capacity)

    def grow(self, capacity: int) -> None:
        super().grow(capacity)
        self.cusum.grow(capacity)
        self.trend.grow(capacity)

    def add(self) -> int:
        slot = super().add()
        self.cusum.size = self.trend.size = self.size
        return slot

    def update(self, idx: np.ndarray, ts: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Score one value per row, learn from it; the rows' alarm edges."""
        cfg, cus = self.cfg, self.cusum
        n = self.n[idx] + 1
        self.n[idx] = n
        a = np.where(n > 12, cfg.smooth_alpha, 1.0 / n)
        d = x - cus.offset(idx, cus.where(ts))
        self.smooth[idx] += a * (x - self.smooth[idx])
        self.deseason[idx] += a * (d - self.deseason[idx])
        self.flat[idx] = np.where(x == self.last[idx], self.flat[idx] + 1, 0)
        self.last[idx] = x
        c = cus.update(idx, ts, x) / cfg.cusum_h
        excursion = self._excursions(idx, self.sign * cus.last_z[idx])
        t = self.trend.update(idx, ts, d) / cfg.t_min
        drift = self._drift(idx, ts, c, t)
        ramp = np.where(cus.warm(idx), self.trend.ramp[idx], 0.0)
        ramping = self.ramping[idx] = np.where(c < ramp, c, ramp)
        score = np.maximum.reduce([drift, self._level_frac(idx) / cfg.p_big,
                                   self._out(idx, n) / cfg.out_frac, excursion,
                                   self.flat[idx] / cfg.flat_n, ramping])  # fmt: skip
        breach = (n > 6) & (self.sign * (self.smooth[idx] - self.spec.limit) >= 0.0)
        score = np.where(breach, 2.0, score)
        self.score[idx] = score
        edges = self._alarm(idx, ts, score)
        self._rebase(idx, ts, c)
        return edges

    def _drift(self, idx: np.ndarray, ts: np.ndarray, c: np.ndarray, t: np.ndarray) -> np.ndarray:
        eta = self.trend.eta[idx]
        soon = (eta == eta) & (eta - ts < self.cfg.horizon_days * 86400)
        fits = self.trend.fits[idx]
        closed = fits != self.fits_seen[idx]
        self.fits_seen[idx] = fits
        hot = self.hot[idx]
        hot = np.where(closed, np.where(soon & (t >= 1.0), hot + 1, 0), hot)
        self.hot[idx] = hot
        drift = np.where(soon & (hot >= self.cfg.drift_fits), np.where(c < t, c, t), 0.0)
        self.drift[idx] = drift
        return drift

    def _excursions(self, idx: np.ndarray, z: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        spikes = self.spikes[idx]
        spikes = spikes - cfg.spike_decay * spikes
        run, back, above, zbar = self.run[idx], self.back[idx], self.above[idx], self.zbar[idx]
        rel = z - zbar
        in_run = run > 0
        run1, above1 = run + 1, above + (rel > cfg.spike_z)
        back1 = np.where(rel >= 1.5, 0, back + 1)
        ended = in_run & (rel < 1.5) & (back1 >= cfg.spike_back_n)
        spikes = np.where(ended, spikes + np.minimum(above1, cfg.spike_cap), spikes)
        run1, back1 = np.where(ended, 0, run1), np.where(ended, 0, back1)
        long = run1 > cfg.spike_max_run
        run1, back1 = np.where(long, 0, run1), np.where(long, 0, back1)
        start = ~in_run & (rel > cfg.spike_z)
        settle = zbar + np.where(rel > 3.0, 3.0, np.where(rel < -3.0, -3.0, rel)) / 12.0
        self.run[idx] = np.where(in_run, run1, np.where(start, 1, run))
        self.above[idx] = np.where(in_run, above1, np.where(start, 1, above))
        self.back[idx] = np.where(in_run, back1, back)
        self.zbar[idx] = np.where(in_run, np.where(long, z, zbar), np.where(start, zbar, settle))
        self.spikes[idx] = spikes
        return spikes / cfg.spike_mass

    def _level_frac(self, idx: np.ndarray) -> np.ndarray:
        expected = self.cusum.expected_mean(idx)
        room = np.abs(self.spec.limit - expected)
        room = np.where(room == 0.0, 1e-9, room)
        frac = np.where(self.cusum.warm(idx),
                        self.sign * (self.deseason[idx] - expected) / room, 0.0)  # fmt: skip
        self.level_frac[idx] = frac
        return frac

    def _out(self, idx: np.ndarray, n: np.ndarray) -> np.ndarray:
        room = abs(self.spec.limit - self.edge)
        on = (n > 12) & self.cusum.warm(idx)
        out = np.where(on, self.sign * (self.deseason[idx] - self.edge) / room, 0.0)
        self.out[idx] = out
        return out

    def _alarm(self, idx: np.ndarray, ts: np.ndarray, score: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        mask = (1 << cfg.alarm_m) - 1
        bits = ((self.bits[idx] << 1) | (score >= 1.0)) & mask
        active, below = self.active[idx], self.below[idx]
        edges = np.zeros(len(idx), dtype=I8)
        raise_ = ~active & (np.bitwise_count(bits) >= cfg.alarm_n) & (ts >= self.quiet_until[idx])
        below = np.where(active, np.where(score < cfg.clear, below + 1, 0), below)
        clear = active & (below >= cfg.clear_n)
        edges[raise_], edges[clear] = ANOMALY, RECOVERY
        self.active[idx] = (active & ~clear) | raise_
        self.below[idx] = np.where(raise_, 0, below)
        self.bits[idx] = np.where(clear, 0, bits)
        started = self.started_at[idx]
        self.started_at[idx] = np.where(raise_, ts, np.where(clear, NAN, started))
        self.quiet_until[idx] = np.where(clear, ts + cfg.suppress_s, self.quiet_until[idx])
        return edges

    def _rebase(self, idx: np.ndarray, ts: np.ndarray, c: np.ndarray) -> None:
        since = self.flat_since[idx]
        calm = self.active[idx] | (c < 1.0)
        due = ~calm & (since == since) & (ts - since >= self.cfg.rebase_days * 86400)
        self.flat_since[idx] = np.where(calm | due, NAN, np.where(since == since, since, ts))
        if due.any():
            rows = idx[due]
            self.cusum.accept(rows, self.trend.level[rows])

    def accept(self, rows: np.ndarray) -> None:
        """Take the rows' current level as normal (a confirmed false positive).

        The reference moves to the recent level and the drift and excursion evidence is
        forgotten; the alarm itself clears the usual way once the scores stay low. The
        profile's normal range and limit still apply: they are absolute.
        """
        self.cusum.accept(rows, self.deseason[rows])  # the smoothed level of the last hours
        self.spikes[rows] = 0.0
        self.hot[rows] = 0
        self.flat_since[rows] = NAN

    # -- reading one slot -------------------------------------------------------------

    def fired(self, slot: int) -> tuple[str, ...]:
        """Names of the detectors whose evidence is above their own threshold now."""
        cfg, names = self.cfg, []
        if self.drift[slot] >= 1.0:
            names += ["cusum", "trend"]
        if self.ramping[slot] >= 1.0:
            names.append("ramp")
        if self.level_frac[slot] >= cfg.p_big:
            names.append("level")
        if self.out[slot] >= cfg.out_frac:
            names.append("normal-range")
        if self.spikes[slot] >= cfg.spike_mass:
            names.append("excursions")
        if self.flat[slot] >= cfg.flat_n:
            names.append("flatline")
        if self.sign * (self.smooth[slot] - self.spec.limit) >= 0.0:
            names.append("limit")
        return tuple(names)

    def expected(self, slot: int, ts: float) -> float:
        idx = np.array([slot])
        return float(self.cusum.expected(idx, self.cusum.where(np.array([ts])))[0])

    def room_frac_per_day(self) -> np.ndarray:
        """Every slot's trend toward the limit per day, as a share of its room."""
        rows = np.arange(self.size)
        room = np.abs(self.spec.limit - self.cusum.expected_mean(rows))
        room = np.where(room == 0.0, 1e-9, room)
        return self.sign * self.trend.slope[rows] / room

    def state_dict(self) -> dict[str, np.ndarray]:
        state = super().state_dict()
        state.update({f"cusum.{k}": v for k, v in self.cusum.state_dict().items()})
        state.update({f"trend.{k}": v for k, v in self.trend.state_dict().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        mine = {k: v for k, v in state.items() if "." not in k}
        super().load_state_dict(mine)
        for prefix, part in (("cusum.", self.cusum), ("trend.", self.trend)):
            part.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                  if k.startswith(prefix)})  # fmt: skip
