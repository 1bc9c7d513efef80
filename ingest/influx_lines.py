"""Readings -> InfluxDB line protocol (measurement ``telemetry``, tag ``device``, ms time)."""

from __future__ import annotations

from collections.abc import Sequence

from core.readings import Reading

MEASUREMENT = "telemetry"
_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": r"\n"})


def escape_key(text: str) -> str:
    """Escape a tag value or field key (commas, equals signs, spaces, backslashes)."""
    return text.translate(_ESCAPES)


def to_line_protocol(readings: Sequence[Reading]) -> str:
    """One line per reading; float fields; timestamps in milliseconds."""
    lines = []
    for reading in readings:
        if not reading.metrics:
            continue
        fields = ",".join(f"{escape_key(k)}={float(v)!r}" for k, v in reading.metrics.items())
        ts_ms = round(reading.ts * 1000)
        lines.append(f"{MEASUREMENT},device={escape_key(reading.device_id)} {fields} {ts_ms}")
    return "\n".join(lines)
