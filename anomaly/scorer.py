"""Score any CSV of ``timestamp,value`` in one streaming pass.

What it is: a streaming scorer for one univariate stream without a profile. Each point
is compared with a forecast from the points before it (Holt's level and slope,
smoothed over ~2 and ~50 points), in units of a robust spread of the forecast errors
(an EW mean absolute error, floored: by a quarter of the long-run spread, half the
smallest step the series has ever made, and 1e-9 times its level, so a flat stretch
never divides by zero). Two tail probabilities come out of it:

- the point's: ``P(|Z| < |z|)`` for a normal Z, i.e. 1 - the two-sided p-value of the
  forecast error (a spike, a step);
- the CUSUM's: ``1 - exp(-S)`` for a two-sided CUSUM ``S`` of the errors with an
  allowance of half a spread, whose tail under no change is about ``exp(-S)``
  (Siegmund): a shift that starts while the forecast lags behind it;
- the drift's: a CUSUM of the forecast's slope against the slope's own long-run mean
  and spread, with an allowance of 1.5 spreads (the slopes of a cycle come and go
  around the mean; a drift's slope stays), its tail taken over the slope's memory.

The score is the largest, in [0, 1]. An alarm (``is_anomaly`` 1) marks an *onset*: the
first point whose score reaches the profile's threshold; the episode then lasts until
the score has stayed below 0.99 for ``cooldown`` points, and no other onset is marked
inside it; after an onset the CUSUMs restart and the current slope becomes the norm
(a drift is told once, and again only if it changes). Profiles: ``low`` (threshold 1 - 1e-5),
``default`` (1 - 1e-4) and ``high`` (1 - 1e-3) sensitivity.

Each point's score uses only the points before it and itself, so appending future
points never changes an earlier score. Timestamps are seconds since the epoch or ISO
8601 (a naive time is taken as UTC); a header row is allowed. A timestamp earlier than
or equal to the one before is scored all the same, in file order, with a warning on
stderr. Where it is weak: it knows nothing of daily or weekly cycles longer than its
forecast can follow, of units or of limits, and a drift slower than the forecast's
memory is absorbed without an alarm; for device telemetry use the engine's detectors.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

PROFILES = {"low": 1e-5, "default": 1e-4, "high": 1e-3}  # alarm at score >= 1 - value
CLEAR = 0.99
MAD_TO_SIGMA = 1.2533
LEVEL_ALPHA, SLOPE_BETA = 0.5, 0.02  # Holt: level over ~2 points, slope over ~50
SLOPE_K, SLOPE_STATS = 1.5, 0.002  # slope CUSUM allowance; memory of the slope's norm
SLOPE_WARMUP = 300  # points before the drift check starts


class ScoreError(ValueError):
    """A CSV that cannot be scored; the message names the line and the problem."""


@dataclass(frozen=True, slots=True)
class ScoredPoint:
    ts_text: str
    ts: float
    value: float
    score: float
    is_anomaly: bool


class SeriesScorer:
    """Streaming scorer for one univariate series.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> scorer = SeriesScorer(warmup=30)
    >>> calm = [scorer.step(60.0 * i, 5.0 + rng.gauss(0, 0.1)) for i in range(300)]
    >>> sum(onset for _, onset in calm), all(0.0 <= s <= 1.0 for s, _ in calm)
    (0, True)
    >>> jump = [scorer.step(60.0 * i, 9.0) for i in range(300, 310)]
    >>> [onset for _, onset in jump][:2], jump[0][0] > 0.9999
    ([True, False], True)
    >>> flat = SeriesScorer(warmup=5)
    >>> scores = [flat.step(float(i), 3.0)[0] for i in range(50)]
    >>> max(scores) == 0.0 and flat.step(50.0, 3.0)[0] == 0.0
    True
    """

    def __init__(self, warmup: int = 30, profile: str = "default", cooldown: int = 10) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
        self.warmup, self.cooldown = warmup, cooldown
        self.threshold = 1.0 - PROFILES[profile]
        self._n = 0
        self._level = self._slope = 0.0
        self._mad = self._slow_mad = 0.0
        self._lsb = math.inf  # the smallest non-zero step seen
        self._last = math.nan
        self._up = self._down = 0.0
        self._slope_mean = self._slope_dev = 0.0
        self._s_up = self._s_down = 0.0
        self._active, self._quiet = False, 0

    def step(self, ts: float, value: float) -> tuple[float, bool]:
        """Score ``value``, learn from it; return (score, alarm onset at this point)."""
        self._n += 1
        if self._n == 1:
            self._level, self._last = value, value
            return 0.0, False
        if value != self._last:
            self._lsb = min(self._lsb, abs(value - self._last))
        self._last = value
        error = value - (self._level + self._slope)
        score = self._score(error) if self._n > self.warmup else 0.0
        self._learn(value, error)
        return score, self._alarm(score)

    def _sigma(self) -> float:
        lsb = self._lsb / 2.0 if self._lsb < math.inf else 0.0
        floor = max(0.25 * self._slow_mad, lsb, 1e-9 * abs(self._level), 1e-12)
        return max(self._mad * MAD_TO_SIGMA, floor)

    def _score(self, error: float) -> float:
        z = error / self._sigma()
        capped = max(-6.0, min(6.0, z))
        self._up = max(0.0, self._up + capped - 0.5)
        self._down = max(0.0, self._down - capped - 0.5)
        point = math.erf(abs(z) / math.sqrt(2.0))
        shift = -math.expm1(-max(self._up, self._down))
        return max(point, shift, self._drift())

    def _drift(self) -> float:
        """A slope unlike any the series has had: CUSUM of the forecast's slope against
        its own long-run mean and spread (a cycle's slopes come and go around the mean;
        a drift's stays). The slope is smoothed over ~1/SLOPE_BETA points, so the sum's
        tail ``exp(-2 k S)`` is taken over ``S`` divided by that half memory."""
        scale = self._slope_dev * MAD_TO_SIGMA + 1e-12 + 1e-3 * self._sigma() * SLOPE_BETA
        zs = (self._slope - self._slope_mean) / scale
        self._s_up = max(0.0, self._s_up + zs - SLOPE_K)
        self._s_down = max(0.0, self._s_down - zs - SLOPE_K)
        memory = 0.5 / SLOPE_BETA
        if self._n < SLOPE_WARMUP:  # the slope's norm needs a few of its memories
            self._s_up = self._s_down = 0.0
            return 0.0
        return -math.expm1(-2.0 * SLOPE_K * max(self._s_up, self._s_down) / memory)

    def _learn(self, value: float, error: float) -> None:
        n = self._n
        a = max(1.0 / n, LEVEL_ALPHA)
        b = max(1.0 / n, SLOPE_BETA)
        bound = 4.0 * self._sigma() if n > self.warmup else abs(error)
        e = max(-bound, min(bound, error))  # a spike moves the forecast a bounded amount
        previous = self._level
        self._level += self._slope + a * e
        self._slope += b * (self._level - previous - self._slope)
        self._mad += max(1.0 / n, 0.02) * (abs(e) - self._mad)
        self._slow_mad += max(1.0 / n, 0.002) * (abs(e) - self._slow_mad)
        if self._s_up < 2.0 and self._s_down < 2.0:  # the slope's norm, while in control
            s = max(1.0 / n, SLOPE_STATS)
            dev = self._slope - self._slope_mean
            self._slope_mean += s * dev
            self._slope_dev += s * (abs(dev) - self._slope_dev)

    def _alarm(self, score: float) -> bool:
        if self._active:
            self._quiet = self._quiet + 1 if score < CLEAR else 0
            if self._quiet >= self.cooldown:
                self._active = False
            return False
        if score >= self.threshold:
            self._active, self._quiet = True, 0
            self._up = self._down = self._s_up = self._s_down = 0.0
            self._slope_mean = self._slope  # a drift, once told, is the new normal
            return True
        return False


def parse_ts(text: str) -> float:
    """Epoch seconds or ISO 8601 -> epoch seconds (raises ValueError)."""
    try:
        return float(text)
    except ValueError:
        pass
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


Warn = Callable[[str], None]


def _rows(
    lines: Iterable[list[str]], name: str, warn: Warn
) -> Iterator[tuple[int, str, float, float]]:
    last = -math.inf
    for lineno, row in enumerate(lines, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ScoreError(
                f"{name} line {lineno}: expected 2 columns (timestamp,value), got {len(row)}"
            )
        ts_text, v_text = row[0].strip(), row[1].strip()
        try:
            ts = parse_ts(ts_text)
        except ValueError:
            if lineno == 1:
                continue  # header
            raise ScoreError(
                f"{name} line {lineno}: timestamp {ts_text!r} is neither epoch seconds nor ISO 8601"
            ) from None
        try:
            value = float(v_text)
        except ValueError:
            raise ScoreError(f"{name} line {lineno}: value {v_text!r} is not a number") from None
        if not math.isfinite(value):
            raise ScoreError(f"{name} line {lineno}: value {v_text!r} is not finite")
        if ts <= last:
            how = "the same as" if ts == last else "earlier than"
            warn(
                f"{name} line {lineno}: timestamp {ts_text!r} is {how} the line before; "
                "scored in file order"
            )
        last = max(last, ts)
        yield lineno, ts_text, ts, value


def score_stream(
    src: TextIO, scorer: SeriesScorer, name: str = "input", warn: Warn | None = None
) -> Iterator[ScoredPoint]:
    """Lazily score every row of ``src``; raises ``ScoreError`` at the first bad line."""
    count = 0
    for _, ts_text, ts, value in _rows(csv.reader(src), name, warn or (lambda _: None)):
        score, onset = scorer.step(ts, value)
        count += 1
        yield ScoredPoint(ts_text, ts, value, score, onset)
    if count == 0:
        raise ScoreError(f"{name}: no data rows (expected lines of timestamp,value)")


def write_scored(points: Iterable[ScoredPoint], out: TextIO) -> int:
    """Write ``timestamp,value,score,is_anomaly`` rows; return how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", "value", "score", "is_anomaly"])
    n = 0
    for p in points:
        writer.writerow([p.ts_text, repr(p.value), f"{p.score:.6g}", int(p.is_anomaly)])
        n += 1
    return n
