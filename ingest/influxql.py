"""InfluxQL statements for the telemetry measurement, with identifiers and literals quoted."""

from __future__ import annotations

from ingest.influx_lines import MEASUREMENT


def ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(text: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def points_query(device_id: str, metric: str, start: float, end: float, every: float | None) -> str:
    """Raw points of one field in [start, end), or their mean per ``every`` seconds."""
    where = (
        f'WHERE "device" = {literal(device_id)} AND time >= {round(start * 1000)}ms '
        f"AND time < {round(end * 1000)}ms"
    )
    if every is None:
        return f"SELECT {ident(metric)} FROM {ident(MEASUREMENT)} {where}"
    step = max(1, round(every * 1000))
    return (
        f"SELECT mean({ident(metric)}) FROM {ident(MEASUREMENT)} {where} "
        f"GROUP BY time({step}ms) fill(none)"
    )


def latest_query(device_id: str) -> str:
    """Two statements: the last value of every field, and the newest row's time."""
    where = f'WHERE "device" = {literal(device_id)}'
    return (
        f"SELECT last(*) FROM {ident(MEASUREMENT)} {where}; "
        f"SELECT * FROM {ident(MEASUREMENT)} {where} ORDER BY time DESC LIMIT 1"
    )
