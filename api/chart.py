"""A small server-side SVG line chart for one metric around an anomaly.

It draws the readings, the normal band, the user-visible limit, the anomaly onset and
the predicted crossing of the limit (with the trend leading to it). Time ticks fall on
whole hours or days of the reader's time zone, which the axis names; a pointer over a
reading shows its time (zone named) and value (SVG titles). No JavaScript.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

from api.templating import when_in, zone_of

W, H = 760, 280
PAD_L, PAD_R, PAD_T, PAD_B = 56, 20, 16, 34
MAX_HOVER = 150  # readings a pointer can show the value of (every nth beyond that)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What to draw; labels arrive already translated."""

    points: Sequence[tuple[float, float]]
    unit: str
    normal: tuple[float, float] | None = None
    limit: float | None = None
    onset_ts: float | None = None
    eta_ts: float | None = None
    eta_range: Sequence[float] | None = None  # [earliest, latest] around eta_ts
    title: str = ""
    label_normal: str = "normal"
    label_limit: str = "limit"
    label_eta: str = "predicted crossing"
    marks: Sequence[tuple[float, str, str]] = ()  # (ts, kind, label): case opened, escalated
    tz: str = "UTC"  # the reader's time zone: ticks, hover and the predicted crossing


@dataclass(frozen=True, slots=True)
class _Scale:
    x0: float
    x1: float
    y0: float
    y1: float

    def x(self, ts: float) -> float:
        span = (self.x1 - self.x0) or 1.0
        return PAD_L + (ts - self.x0) / span * (W - PAD_L - PAD_R)

    def y(self, value: float) -> float:
        span = (self.y1 - self.y0) or 1.0
        return H - PAD_B - (value - self.y0) / span * (H - PAD_T - PAD_B)


def _scale(spec: ChartSpec) -> _Scale:
    times = [t for t, _ in spec.points] or [0.0, 1.0]
    values = [v for _, v in spec.points]
    x0, x1 = min(times), max(times)
    if spec.eta_ts is not None and x1 > x0 and spec.eta_ts <= x1 + 2 * (x1 - x0):
        latest = spec.eta_range[1] if spec.eta_range else spec.eta_ts
        x1 = max(x1, spec.eta_ts, min(latest, x1 + 2 * (x1 - x0)))
    if spec.normal:
        values += list(spec.normal)
    if spec.limit is not None:
        values.append(spec.limit)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    margin = (hi - lo) * 0.08 or 1.0
    return _Scale(x0, x1 if x1 > x0 else x0 + 1.0, lo - margin, hi + margin)


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    raw = (hi - lo) / max(count, 1)
    step = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for mult in (1, 2, 5, 10):
        if raw <= step * mult:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


HOUR, DAY = 3600, 86400
TICK_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)


def time_ticks(x0: float, x1: float, most: int = 6, tz: str = "UTC") -> tuple[list[float], int]:
    """Tick times on whole hours or whole days of the zone ``tz``, at most ``most`` of
    them, and the step: a tick labelled "12-03" is that day's local midnight, never a
    time in between (across a daylight-saving change too: steps are counted on the
    wall clock)."""
    span = max(x1 - x0, 1.0)
    step = next((s for s in TICK_STEPS if span / s <= most), TICK_STEPS[-1])
    zone = zone_of(tz)
    day = datetime.fromtimestamp(x0, zone).replace(hour=0, minute=0, second=0, microsecond=0)
    ticks: list[float] = []
    while day.timestamp() <= x1:
        for hour in range(0, 24, step // HOUR) if step < DAY else (0,):
            ts = day.replace(hour=hour).timestamp()
            if x0 <= ts <= x1 and (step < DAY or _whole_days(day, step)):
                ticks.append(ts)
        day = (day + timedelta(days=1)).replace(hour=0)
    return ticks, step


def _whole_days(day: datetime, step: int) -> bool:
    """Multi-day steps fall on days a whole number of steps from the epoch's day."""
    return day.toordinal() % (step // DAY) == 0


def _when(ts: float, step: int, tz: str) -> str:
    dt = datetime.fromtimestamp(ts, zone_of(tz))
    return dt.strftime("%m-%d" if step >= DAY else "%m-%d %H:%M")


def zone_label(x1: float, tz: str) -> str:
    """The zone the axis is in, as its readers know it ("JST", "CET"; UTC for unknown)."""
    return datetime.fromtimestamp(x1, zone_of(tz)).tzname() or tz


def _axes(s: _Scale, tz: str) -> list[str]:
    parts = ['<g class="axis" font-size="11" fill="#555">']
    for v in _nice_ticks(s.y0, s.y1):
        y = s.y(v)
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>'
        )
    ticks, step = time_ticks(s.x0, s.x1, tz=tz)
    for ts in ticks:
        x = s.x(ts)
        anchor = "start" if x < PAD_L + 30 else "end" if x > W - PAD_R - 30 else "middle"
        parts.append(
            f'<line class="tick" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" '
            f'stroke="#eee"/><text class="tick" x="{x:.1f}" y="{H - 10}" '
            f'text-anchor="{anchor}">{_when(ts, step, tz)}</text>'
        )
    zone = escape(zone_label(s.x1, tz))
    parts.append(f'<text class="zone" x="{W - PAD_R}" y="{H - 22}" text-anchor="end">{zone}</text>')
    parts.append("</g>")
    return parts


def _band(spec: ChartSpec, s: _Scale) -> list[str]:
    if not spec.normal:
        return []
    top, bottom = s.y(spec.normal[1]), s.y(spec.normal[0])
    return [
        f'<rect class="normal-band" x="{PAD_L}" y="{top:.1f}" width="{W - PAD_L - PAD_R}" '
        f'height="{bottom - top:.1f}" fill="#d9f2e3"><title>{escape(spec.label_normal)}</title>'
        f"</rect>",
        f'<text x="{W - PAD_R - 4}" y="{top + 12:.1f}" text-anchor="end" font-size="11" '
        f'fill="#2d7a4b">{escape(spec.label_normal)}</text>',
    ]


def _limit(spec: ChartSpec, s: _Scale) -> list[str]:
    if spec.limit is None:
        return []
    y = s.y(spec.limit)
    label = f"{spec.label_limit} {_fmt(spec.limit)} {spec.unit}"
    return [
        f'<line class="limit" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>',
        f'<text x="{PAD_L + 4}" y="{y - 4:.1f}" font-size="11" fill="#c0392b">'
        f"{escape(label)}</text>",
    ]


def _series(spec: ChartSpec, s: _Scale) -> list[str]:
    if not spec.points:
        return []
    coords = " ".join(f"{s.x(t):.1f},{s.y(v):.1f}" for t, v in spec.points)
    every = max(1, len(spec.points) // MAX_HOVER)
    hover = [
        f'<circle cx="{s.x(t):.1f}" cy="{s.y(v):.1f}" r="6"><title>'
        f"{when_in(t, spec.tz)}: {_fmt(v)} {escape(spec.unit)}"
        "</title></circle>"
        for t, v in spec.points[::every]
    ]
    return [
        f'<polyline class="series" points="{coords}" fill="none" stroke="#1f5fa8" '
        f'stroke-width="1.6" stroke-linejoin="round"/>',
        '<g class="hover" fill="transparent">' + "".join(hover) + "</g>",
    ]


def _onset(spec: ChartSpec, s: _Scale) -> list[str]:
    if spec.onset_ts is None or not s.x0 <= spec.onset_ts <= s.x1:
        return []
    x = s.x(spec.onset_ts)
    return [
        f'<line class="onset" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" '
        f'stroke="#e67e22" stroke-dasharray="2 3"/>'
    ]


def _marks(spec: ChartSpec, s: _Scale) -> list[str]:
    """A labelled vertical line at each mark (when the case opened, each escalation)."""
    out = []
    for n, (ts, kind, label) in enumerate(spec.marks):
        if not s.x0 <= ts <= s.x1:
            continue
        x, y = s.x(ts), PAD_T + 12 + 12 * (n % 3)
        anchor = "end" if x > W / 2 else "start"
        out += [
            f'<line class="mark {escape(kind)}" data-ts="{ts:.0f}" x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{PAD_T}" y2="{H - PAD_B}" stroke="#8e44ad" stroke-dasharray="4 2">'
            f"<title>{escape(label)}</title></line>",
            f'<text class="mark" x="{x + (-3 if anchor == "end" else 3):.1f}" y="{y}" '
            f'text-anchor="{anchor}" font-size="10" fill="#8e44ad">{escape(label)}</text>',
        ]
    return out


def _eta(spec: ChartSpec, s: _Scale) -> list[str]:
    if spec.eta_ts is None or spec.limit is None or not spec.points:
        return []
    last_t, last_v = spec.points[-1]
    label = f"{spec.label_eta} {when_in(spec.eta_ts, spec.tz)}"
    if spec.eta_ts > s.x1:  # too far to draw: say so at the right edge
        return [
            f'<text class="eta" x="{W - PAD_R}" y="{PAD_T + 12}" text-anchor="end" '
            f'font-size="11" fill="#c0392b">{escape(label)} →</text>'
        ]
    if spec.eta_ts < s.x0:
        return []
    ex, ey = s.x(spec.eta_ts), s.y(spec.limit)
    anchor = "end" if ex > W / 2 else "start"
    dx = -8 if anchor == "end" else 8
    trend = (  # from the newest reading to the crossing, when that still lies ahead
        [
            f'<line class="trend" x1="{s.x(last_t):.1f}" y1="{s.y(last_v):.1f}" x2="{ex:.1f}" '
            f'y2="{ey:.1f}" stroke="#c0392b" stroke-dasharray="3 3"/>'
        ]
        if spec.eta_ts > last_t
        else []
    )
    return trend + [
        f'<circle class="eta" cx="{ex:.1f}" cy="{ey:.1f}" r="5" fill="#c0392b">'
        f"<title>{escape(label)}</title></circle>",
        f'<text x="{ex + dx:.1f}" y="{ey + 16:.1f}" text-anchor="{anchor}" font-size="11" '
        f'fill="#c0392b">{escape(label)}</text>',
    ]


def _eta_range(spec: ChartSpec, s: _Scale) -> list[str]:
    """The ETA's interval as a bar on the limit line (the part that fits the chart)."""
    if spec.eta_range is None or spec.limit is None or not spec.points:
        return []
    earliest, latest = spec.eta_range
    left, right = max(earliest, s.x0), min(latest, s.x1)
    if right < left:
        return []
    when = (when_in(t, spec.tz) for t in spec.eta_range)
    label = escape(f"{spec.label_eta}: {' – '.join(when)}")
    y = s.y(spec.limit)
    return [
        f'<line class="eta-range" x1="{s.x(left):.1f}" y1="{y:.1f}" x2="{s.x(right):.1f}" '
        f'y2="{y:.1f}" stroke="#c0392b" stroke-width="6" stroke-opacity="0.35" '
        f'data-earliest="{earliest:.0f}" data-latest="{latest:.0f}"><title>{label}</title></line>'
    ]


def render_chart(spec: ChartSpec) -> Markup:
    """The chart as an inline ``<svg>`` element, safe to place in a template."""
    s = _scale(spec)
    body = (
        _axes(s, spec.tz)
        + _band(spec, s)
        + _limit(spec, s)
        + _onset(spec, s)
        + _series(spec, s)
        + _marks(spec, s)
        + _eta_range(spec, s)
        + _eta(spec, s)
    )
    title = escape(spec.title)
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" '
        f'role="img" aria-label="{title}" data-points="{len(spec.points)}">'
        f"<title>{title}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")
