"""Payload decoding and validation: bytes of one MQTT message -> readings + problems.

Accepted payloads (UTF-8 JSON):

* one object ``{"ts": 1700000000.5, "metrics": {"temp_c": 21.5}}`` (optionally with
  ``"device"``, which must name the topic's device),
* a JSON list of such objects,
* SenML (RFC 8428) JSON: a list of records with ``bn``/``bt``/``n``/``t``/``v``/``vb``.

A problem refuses only the part it concerns: a bad metric drops that metric, a bad entry
that entry; valid neighbours are kept. Problems carry reason codes (see ``REASONS``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from core.profiles import MetricSpec
from core.readings import DEAD_LETTER_REASONS, Reading
from ingest.base import PayloadError
from ingest.senml import is_senml, senml_entries
from ingest.timestamps import check_skew, parse_ts

REASONS = DEAD_LETTER_REASONS
MAX_METRIC_NAME = 128
# InfluxDB refuses a field named "time" (HTTP 400) and reserves names starting with "_"
# (InfluxDB 2); "device" is our tag, and a field of that name would shadow it in InfluxQL
# WHERE clauses. Refused for every backend, so data stays portable between them.
RESERVED_NAMES = frozenset({"time", "device"})
EXACT = 2**53  # integers up to this convert to float exactly (and cannot overflow)
Bounds = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds a payload must respect (see ``kizuki.config.IngestSettings``)."""

    max_payload_bytes: int = 256 * 1024
    max_future_skew_s: float = 300.0
    max_past_skew_s: float = 400 * 86400.0


@dataclass(slots=True)
class Decoded:
    """What one message became: readings to store and problems to dead-letter."""

    readings: list[Reading] = field(default_factory=list)
    problems: list[PayloadError] = field(default_factory=list)


class PayloadParser(Protocol):
    """Turns one message's payload into readings of ``device_id`` and problems."""

    def __call__(
        self,
        device_id: str,
        payload: bytes,
        now: float,
        metrics: Mapping[str, MetricSpec] | None = None,
    ) -> Decoded: ...


class JsonParser:
    """The JSON / JSON list / SenML parser; ``metrics`` is the device profile, if known."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._names: set[str] = set()  # metric names that passed _check_name
        self._bounds: dict[int, tuple[Mapping[str, MetricSpec], dict[str, Bounds]]] = {}
        self._last: tuple[Mapping[str, MetricSpec] | None, dict[str, Bounds]] = (None, {})

    def __call__(
        self,
        device_id: str,
        payload: bytes,
        now: float,
        metrics: Mapping[str, MetricSpec] | None = None,
    ) -> Decoded:
        out = Decoded()
        try:
            entries = self._entries(device_id, payload)
        except PayloadError as exc:
            out.problems.append(exc)
            return out
        for entry in entries:
            try:
                self._entry(device_id, entry, now, metrics, out)
            except PayloadError as exc:
                out.problems.append(exc)
        return out

    def _entries(self, device_id: str, payload: bytes) -> list[Any]:
        if len(payload) > self.limits.max_payload_bytes:
            raise PayloadError(
                "too_large", f"{len(payload)} bytes > {self.limits.max_payload_bytes}"
            )
        doc = _loads(payload)
        if isinstance(doc, dict):
            return [doc]
        if isinstance(doc, list):
            if not doc:
                raise PayloadError("empty_payload", "an empty list holds no readings")
            return senml_entries(device_id, doc) if is_senml(doc) else doc
        raise PayloadError("bad_schema", f"expected an object or a list, got {type(doc).__name__}")

    def _entry(
        self,
        device_id: str,
        entry: Any,
        now: float,
        profile: Mapping[str, MetricSpec] | None,
        out: Decoded,
    ) -> None:
        if isinstance(entry, PayloadError):
            raise entry
        if not isinstance(entry, dict):
            raise PayloadError("bad_schema", f"entry must be an object, got {entry!r:.80}")
        named = entry.get("device")
        if named is None:
            named = entry.get("device_id")
        if named is not None and named != device_id:
            raise PayloadError("topic_mismatch", f"payload names {named!r:.80}, topic {device_id}")
        if "ts" not in entry:
            raise PayloadError("missing_ts", "entry has no ts")
        values = entry.get("metrics")
        if not isinstance(values, dict) or not values:
            raise PayloadError("bad_schema", "entry needs a non-empty 'metrics' object")
        ts = parse_ts(entry["ts"])
        check_skew(ts, now, self.limits.max_future_skew_s, self.limits.max_past_skew_s)
        good = self._metrics(values, profile, out.problems)
        if good:
            out.readings.append(Reading(device_id, ts, good))

    def _metrics(
        self,
        values: dict[str, Any],
        profile: Mapping[str, MetricSpec] | None,
        problems: list[PayloadError],
    ) -> dict[str, float]:
        good: dict[str, float] = {}
        names, bounds = self._names, self._bounds_of(profile)
        for name, value in values.items():
            # Fast path, the usual case: a finite number under a name already checked,
            # within the profile's valid range. Anything else takes the full checks.
            kind = type(value)
            if (kind is float or (kind is int and -EXACT <= value <= EXACT)) and name in names:
                number = float(value)
                if number - number == 0.0:  # finite
                    if bounds is None:
                        good[name] = number
                        continue
                    lo_hi = bounds.get(name)
                    if lo_hi is not None and lo_hi[0] <= number <= lo_hi[1]:
                        good[name] = number
                        continue
            self._checked(name, value, profile, problems, good)
        return good

    def _checked(
        self,
        name: str,
        value: Any,
        profile: Mapping[str, MetricSpec] | None,
        problems: list[PayloadError],
        good: dict[str, float],
    ) -> None:
        try:
            number = _number(name, value)
            _check_name(name)
        except PayloadError as exc:
            problems.append(exc)
            return
        self._names.add(name)
        if profile is None or _fits(name, number, profile, problems):
            good[name] = number

    def _bounds_of(self, profile: Mapping[str, MetricSpec] | None) -> dict[str, Bounds] | None:
        if profile is None:
            return None
        if profile is self._last[0]:
            return self._last[1]
        cached = self._bounds.get(id(profile))
        if cached is None or cached[0] is not profile:
            ranges = {n: spec.valid or (-math.inf, math.inf) for n, spec in profile.items()}
            cached = self._bounds[id(profile)] = (profile, ranges)
        self._last = cached
        return cached[1]


def _loads(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        if not payload.strip():
            raise PayloadError("empty_payload", "the message has no payload") from None
    # orjson refuses NaN/Infinity literals; the stdlib reads them so we can say non_finite.
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise PayloadError("not_json", str(exc)[:200]) from None


def _number(name: str, value: Any) -> float:
    if type(value) is float:
        number = value
    elif type(value) is int:
        try:
            number = float(value)
        except OverflowError:
            raise PayloadError("non_finite", f"{name[:80]}: integer beyond float range") from None
    else:
        raise PayloadError("wrong_type", f"{name[:80]}={value!r:.40} not a number")
    if not math.isfinite(number):
        raise PayloadError("non_finite", f"{name[:80]}={value}")
    return number


def _check_name(name: str) -> None:
    if not name or len(name) > MAX_METRIC_NAME:
        raise PayloadError("bad_schema", f"metric name {name[:80]!r} length")
    if name in RESERVED_NAMES or name.startswith("_"):
        raise PayloadError("reserved_name", f"metric name {name[:80]!r} is reserved")


def _fits(
    name: str, value: float, profile: Mapping[str, MetricSpec], problems: list[PayloadError]
) -> bool:
    spec = profile.get(name)
    if spec is None:
        problems.append(PayloadError("unknown_metric", f"{name[:80]!r} not in the profile"))
        return False
    if spec.valid is not None and not spec.valid[0] <= value <= spec.valid[1]:
        problems.append(PayloadError("out_of_range", f"{name}={value} outside {spec.valid}"))
        return False
    return True
