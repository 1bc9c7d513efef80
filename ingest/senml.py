"""SenML (RFC 8428) JSON records -> Kizuki entries ``{"ts": ..., "metrics": {...}}``.

Base fields (``bn``, ``bt``, ``bv``) carry forward to later records, as the RFC says.
The record name is ``bn + n``; when it holds a ``/`` or ``:``, the text before the last
one names the device (its last segment must be the topic's device id) and the rest is the
metric: ``{"bn": "ac-00001/", "n": "fan_rpm"}`` or ``urn:dev:mac:ac-00001:fan_rpm``.
``vb`` booleans become 1.0/0.0; string and data values are refused (``wrong_type``).

Two departures, both so that a redelivered message maps to the same points: a record
without any time (``bt`` and ``t`` absent) and a relative time (below 2**28 s) are
refused as ``missing_ts`` instead of being stamped with the time of receipt.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ingest.base import PayloadError

SENML_KEYS = frozenset({"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "t"})
RELATIVE_LIMIT = 2.0**28
_SPLIT = re.compile(r"[/:]")


def is_senml(doc: list[Any]) -> bool:
    """A list whose first record looks like SenML rather than a Kizuki entry."""
    first = doc[0] if doc else None
    return isinstance(first, dict) and "metrics" not in first and bool(SENML_KEYS & first.keys())


def senml_entries(device_id: str, records: list[Any]) -> list[Any]:
    """Entries grouped by resolved time; a bad record becomes a ``PayloadError`` item."""
    by_time: dict[float, dict[str, Any]] = {}
    problems: list[Any] = []
    base: dict[str, Any] = {"bn": "", "bt": 0.0, "bv": 0.0}
    for record in records:
        try:
            ts, name, value = _resolve(device_id, record, base)
        except PayloadError as exc:
            problems.append(exc)
            continue
        by_time.setdefault(ts, {})[name] = value
    entries = [{"ts": ts, "metrics": metrics} for ts, metrics in by_time.items()]
    return entries + problems


def _resolve(device_id: str, record: Any, base: dict[str, Any]) -> tuple[float, str, Any]:
    if not isinstance(record, dict):
        raise PayloadError("bad_schema", f"SenML record must be an object, got {record!r:.80}")
    for key in ("bn", "bt", "bv"):
        if key in record:
            base[key] = record[key]
    if "bt" not in record and "t" not in record and not base.get("_has_time"):
        raise PayloadError("missing_ts", "SenML record has no bt or t")
    base["_has_time"] = True
    return _time(record, base), _metric(device_id, record, base), _value(record, base)


def _time(record: dict[str, Any], base: dict[str, Any]) -> float:
    bt, t = base["bt"], record.get("t", 0.0)
    if not _number(bt) or not _number(t):
        raise PayloadError("wrong_type", f"SenML time bt={bt!r:.40} t={t!r:.40}")
    ts = _add(bt, t, "SenML time")
    if abs(ts) < RELATIVE_LIMIT:
        raise PayloadError("missing_ts", f"SenML time {ts} is relative; send absolute time")
    return ts


def _metric(device_id: str, record: dict[str, Any], base: dict[str, Any]) -> str:
    bn, n = base["bn"], record.get("n", "")
    if not isinstance(bn, str) or not isinstance(n, str):
        raise PayloadError("bad_schema", "SenML bn and n must be strings")
    full = bn + n
    parts = _SPLIT.split(full)
    metric = parts[-1]
    if len(parts) > 1 and parts[-2] != device_id:
        raise PayloadError("topic_mismatch", f"SenML name {full[:120]!r} is not {device_id}'s")
    if not metric:
        raise PayloadError("bad_schema", f"SenML name {full[:120]!r} has no metric")
    return metric


def _value(record: dict[str, Any], base: dict[str, Any]) -> Any:
    if "v" in record:
        value, offset = record["v"], base["bv"]
        name = f"SenML {record.get('n', '')!r:.80}"
        return _add(value, offset, name) if _number(value) and _number(offset) else value
    if "vb" in record:
        flag = record["vb"]
        return (1.0 if flag else 0.0) if isinstance(flag, bool) else flag
    if "vs" in record or "vd" in record:
        name = record.get("n", "")
        raise PayloadError("wrong_type", f"SenML {name!r:.80} has a non-numeric value")
    raise PayloadError("bad_schema", f"SenML record {record.get('n', '')!r:.80} has no value")


def _add(a: float, b: float, what: str) -> float:
    try:
        total = float(a) + float(b)
    except OverflowError:
        raise PayloadError("non_finite", f"{what}: number beyond float range") from None
    if not math.isfinite(total):
        raise PayloadError("non_finite", f"{what} is {total}")
    return total


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
