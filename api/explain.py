"""Why a case was opened, said in the reader's language from the explanation's numbers
(detection's own ``text`` is English and stays in the API for programs)."""

from __future__ import annotations

import math

from api.i18n import translator
from api.schemas import ExplanationPublic
from api.templating import duration, term, when_in
from core.profiles import DeviceProfile, metric_title


def _num(value: float) -> str:
    return f"{value:.4g}"


DAY, HOUR = 86400.0, 3600.0


def eta_span(earliest_s: float, latest_s: float, locale: str) -> str:
    """How far off an interval is, rounded outwards so it never reads more precise than
    it is: '2-4 days', 'within 3 days', '5-20 hours' ('2〜4日後' in Japanese)."""
    _ = translator(locale)
    size, key = (DAY, "days") if latest_s >= 2 * DAY else (HOUR, "hours")
    low = max(0, math.floor(earliest_s / size))
    high = max(low + 1, math.ceil(latest_s / size), 2)
    if low == 0:
        return _(f"eta_within_{key}", high=high)
    return _(f"eta_{key}", low=low, high=high)


def _range_lines(
    span: list[float], limit: dict[str, str], now: float, locale: str, tz: str
) -> list[str]:
    _ = translator(locale)
    earliest, latest = span
    bounds = {"start": when_in(earliest, tz), "end": when_in(latest, tz), **limit}
    if latest < now:
        return [_("why_eta_range_passed", **bounds)]
    return [_("why_eta_range", span=eta_span(earliest - now, latest - now, locale), **bounds)]


def _limit_lines(why: ExplanationPublic, past: bool, now: float, locale: str, tz: str) -> list[str]:
    _ = translator(locale)
    if why.limit is None:
        return []
    limit = {"limit": _num(why.limit), "unit": why.unit}
    if past:
        return [_("why_past", **limit)]
    if why.eta_range is not None:
        return _range_lines(why.eta_range, limit, now, locale, tz)
    if why.eta_ts is None:
        return []
    when = when_in(why.eta_ts, tz)
    if why.eta_ts < now:
        return [_("why_eta_passed", when=when, **limit)]
    return [_("why_eta", when=when, left=duration(why.eta_ts - now, locale), **limit)]


def _past_limit(why: ExplanationPublic, profile: DeviceProfile | None) -> bool:
    spec = profile.metrics.get(why.metric) if profile else None
    if spec is not None and why.observed is not None:
        return spec.breached(why.observed)
    return "limit" in why.detectors


def explain(
    why: ExplanationPublic,
    profile: DeviceProfile | None,
    now: float,
    locale: str,
    tz: str = "UTC",
) -> list[str]:
    """Sentences for the case page: what was measured, the trend, the limit and when it is
    reached (in the reader's zone ``tz``, named), and which detectors saw it."""
    _ = translator(locale)
    lines = []
    if why.observed is not None and why.expected is not None:
        lines.append(
            _(
                "why_observed",
                metric=metric_title(profile, why.metric, locale),
                observed=_num(why.observed),
                expected=_num(why.expected),
                unit=why.unit,
            )
        )
    if why.trend_per_day:
        lines.append(_("why_trend", trend=f"{why.trend_per_day:+.3g}", unit=why.unit))
    lines += _limit_lines(why, _past_limit(why, profile), now, locale, tz)
    if why.detectors:
        sep = "、" if locale == "ja" else ", "
        names = sep.join(term(_, "det", d) for d in why.detectors)
        lines.append(_("why_detectors", names=names))
    return lines
