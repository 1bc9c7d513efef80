"""Why a case was opened, said in the reader's language from the explanation's numbers
(detection's own ``text`` is English and stays in the API for programs)."""

from __future__ import annotations

from api.i18n import translator
from api.schemas import ExplanationPublic
from api.templating import duration, term, when_in
from core.profiles import DeviceProfile, metric_title


def _num(value: float) -> str:
    return f"{value:.4g}"


def _limit_lines(why: ExplanationPublic, past: bool, now: float, locale: str, tz: str) -> list[str]:
    _ = translator(locale)
    if why.limit is None:
        return []
    limit = {"limit": _num(why.limit), "unit": why.unit}
    if past:
        return [_("why_past", **limit)]
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
