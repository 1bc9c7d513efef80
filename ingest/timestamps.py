"""Device timestamps: epoch seconds, epoch milliseconds or ISO 8601, to float seconds (UTC).

Numbers whose magnitude is at least ``MS_THRESHOLD`` (1e11) are taken as milliseconds:
1e11 seconds lies in the year 5138, while 1e11 milliseconds is 1973-03-03, so every
millisecond stamp after early 1973 and every second stamp before 5138 is read correctly.
ISO 8601 strings without an offset are UTC.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from ingest.base import PayloadError

MS_THRESHOLD = 1e11


def parse_ts(value: object) -> float:
    """Seconds since the epoch from a device timestamp; ``PayloadError`` when it is not one."""
    if value is None:
        raise PayloadError("missing_ts", "ts is null")
    if isinstance(value, bool):
        raise PayloadError("wrong_type", f"ts must be a number or ISO 8601 string, got {value}")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            raise PayloadError("non_finite", "ts is an integer beyond float range") from None
        return _from_number(number)
    if isinstance(value, str):
        return _from_iso(value)
    raise PayloadError("wrong_type", f"ts must be a number or ISO 8601 string, got {value!r:.80}")


def check_skew(ts: float, now: float, max_future_s: float, max_past_s: float) -> None:
    """Refuse stamps further ahead of ``now`` or behind it than the configured skews."""
    if ts > now + max_future_s:
        raise PayloadError("ts_future", f"ts {ts:.3f} is {ts - now:.0f} s ahead of now")
    if ts < now - max_past_s:
        raise PayloadError("ts_past", f"ts {ts:.3f} is {now - ts:.0f} s behind now")


def _from_number(value: float) -> float:
    if not math.isfinite(value):
        raise PayloadError("non_finite", f"ts is {value}")
    return value / 1000.0 if abs(value) >= MS_THRESHOLD else value


def _from_iso(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):
        raise PayloadError("wrong_type", f"ts {text[:80]!r} is not ISO 8601") from None
