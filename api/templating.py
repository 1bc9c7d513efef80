"""Jinja2 set-up for the web pages: translations, CSRF token, date and SLA helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import Response

from api.auth import Principal
from api.deps import csrf_token, session_principal
from api.i18n import LOCALES, localised, pick_locale, translator

TEMPLATES = Path(__file__).with_name("templates")


def zone_of(name: str | None) -> ZoneInfo:
    """The time zone called ``name``; UTC for none or an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def when_in(value: datetime | float | None, tz: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the zone ``tz``, with the zone named ('2026-12-05 18:30 JST')."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    local = value.astimezone(zone_of(tz))
    return f"{local.strftime(fmt)} {local.tzname() or tz}"


@pass_context
def _when(context: Context, value: datetime | float | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return when_in(value, str(context.get("tz") or "UTC"), fmt)


UNITS = {"en": ("d", "h", "m", " "), "ja": ("日", "時間", "分", "")}


def duration(seconds: float, locale: str = "en") -> str:
    """A short human duration: '3d 4h', '5h 12m', '7m' ('3日4時間' in Japanese)."""
    d, h, m, gap = UNITS.get(locale, UNITS["en"])
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}{d}{gap}{hours}{h}"
    return f"{hours}{h}{gap}{minutes}{m}" if hours else f"{minutes}{m}"


@pass_context
def _duration(context: Context, seconds: float) -> str:
    return duration(seconds, str(context.get("locale", "en")))


def term(_: Callable[..., str], group: str, value: object) -> str:
    """A value from a known vocabulary (channel, tier, role...) in the page's language;
    values we have no word for are shown as they are."""
    key = f"{group}_{value}"
    text = _(key)
    return str(value) if text == key else text


def query(request: Request, **changes: str | None) -> str:
    """The current query string with ``changes`` applied (None or '' removes a key)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value:
            params[key] = value
        else:
            params.pop(key, None)
    return "?" + urlencode(params)


def flash(request: Request, text: str, draft: str = "") -> None:
    """A one-time notice for the next page this session renders (and a draft to keep)."""
    request.session["flash"] = text[:500]
    if draft:
        request.session["draft"] = draft[:4000]


def make_templates() -> Jinja2Templates:
    """The page templates with our filters installed."""
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.filters["when"] = _when  # in the reader's zone, zone named
    templates.env.filters["duration"] = _duration
    templates.env.globals["LOCALES"] = LOCALES
    templates.env.globals["query"] = query
    return templates


def render(
    request: Request,
    name: str,
    user: Principal | None,
    status_code: int = 200,
    default_locale: str | None = None,
    **context: Any,
) -> Response:
    """Render a page in the viewer's language, with the CSRF token forms need.

    ``default_locale`` stands in for the user's setting on public pages (the customer's
    language on the feedback page)."""
    locale = pick_locale(request, user.locale if user else default_locale)
    if (lang := request.query_params.get("lang")) and lang in LOCALES:
        request.session["lang"] = lang
    templates: Jinja2Templates = request.app.state.templates
    _ = translator(locale)
    base = {
        "user": user,
        "locale": locale,
        "tz": getattr(user, "timezone", None) or "UTC",
        "_": _,
        "term": lambda group, value: term(_, group, value),
        "title_of": lambda titles: localised(titles, locale),
        "csrf_token": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "draft": request.session.pop("draft", ""),
        "replaying": _replaying(request),
    }
    return templates.TemplateResponse(request, name, base | context, status_code=status_code)


def _replaying(request: Request) -> bool:
    """True while the demo replays history: its clock runs far faster than the wall's,
    so the page must not count SLA time down at the wall's pace."""
    ctx = getattr(request.app.state, "ctx", None)
    return getattr(getattr(ctx, "clock", None), "live", True) is False


def _session_user(request: Request) -> Principal | None:
    """The logged-in user behind an error page, if that can still be told."""
    try:
        with request.app.state.ctx.session_factory() as db:
            return session_principal(request, db)
    except Exception:  # noqa: BLE001 - the database may be what failed
        return None


def render_error(request: Request, problem: dict[str, Any]) -> Response:
    """An error page for people, in their language, with the header they know."""
    return render(
        request,
        "error.html",
        _session_user(request),
        status_code=problem["status"],
        problem=problem,
    )
