"""Score any CSV of ``timestamp,value`` in one streaming pass.

Each point's score uses only the points before it and itself, so appending future
points never changes an earlier score. The score is the larger of the robust z against
a seasonal baseline (divided by ``z_threshold``) and the CUSUM sum (divided by
``cusum_h``); ``is_anomaly`` is the alarm state after the point (threshold 1, N-of-M,
hysteresis: see ``postprocess.Alarm``).

Timestamps are seconds since the epoch or ISO 8601 (a naive time is taken as UTC). A
header row is allowed.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from anomaly.cusum import Cusum
from anomaly.postprocess import Alarm
from anomaly.seasonal import SeasonalBaseline


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
    >>> scorer = SeriesScorer(warmup=30)
    >>> flat = [scorer.step(60.0 * i, 5.0 + 0.1 * (i % 4)) for i in range(100)]
    >>> any(a for _, a in flat)
    False
    >>> jump = [scorer.step(60.0 * i, 9.0) for i in range(100, 110)]
    >>> jump[-1][1]
    True
    """

    def __init__(self, warmup: int = 50, z_threshold: float = 5.0, cusum_h: float = 12.0) -> None:
        self.warmup = warmup
        self.z_threshold = z_threshold
        self.cusum_h = cusum_h
        self._base = SeasonalBaseline(warmup=warmup, alpha=0.02)
        self._cusum = Cusum(warmup=warmup, alpha=0.003, max_hold=2 * warmup)
        self._alarm = Alarm(threshold=1.0, clear=0.5, n=3, m=5, clear_n=max(5, warmup // 4),
                            suppress_s=0.0)  # fmt: skip

    def step(self, ts: float, value: float) -> tuple[float, bool]:
        """Score ``value``, learn from it, return (score, alarm active)."""
        z = self._base.update(ts, value) / self.z_threshold
        c = self._cusum.update(ts, value) / self.cusum_h
        score = z if z > c else c
        self._alarm.step(ts, score)
        return score, self._alarm.active


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


def _rows(lines: Iterable[list[str]], name: str) -> Iterator[tuple[int, str, float, float]]:
    last = -math.inf
    for lineno, row in enumerate(lines, start=1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ScoreError(f"{name} line {lineno}: expected 2 columns (timestamp,value), "
                             f"got {len(row)}")  # fmt: skip
        ts_text, v_text = row[0].strip(), row[1].strip()
        try:
            ts = parse_ts(ts_text)
        except ValueError:
            if lineno == 1:
                continue  # header
            raise ScoreError(f"{name} line {lineno}: timestamp {ts_text!r} is neither epoch "
                             "seconds nor ISO 8601") from None  # fmt: skip
        try:
            value = float(v_text)
        except ValueError:
            raise ScoreError(f"{name} line {lineno}: value {v_text!r} is not a number") from None
        if not math.isfinite(value):
            raise ScoreError(f"{name} line {lineno}: value {v_text!r} is not finite")
        if ts < last:
            raise ScoreError(f"{name} line {lineno}: timestamp {ts_text!r} is earlier than "
                             "the line before (sort the file by time)")  # fmt: skip
        last = ts
        yield lineno, ts_text, ts, value


def score_stream(src: TextIO, scorer: SeriesScorer, name: str = "input") -> Iterator[ScoredPoint]:
    """Lazily score every row of ``src``; raises ``ScoreError`` at the first bad line."""
    count = 0
    for _, ts_text, ts, value in _rows(csv.reader(src), name):
        score, flag = scorer.step(ts, value)
        count += 1
        yield ScoredPoint(ts_text, ts, value, score, flag)
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
