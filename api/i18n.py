"""The interface in English and Japanese; pick by ?lang=, user setting, Accept-Language.

The words themselves are in :mod:`api.messages` and :mod:`api.messages_desk`.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

from api.messages import MESSAGES as BASE_MESSAGES
from api.messages_desk import DESK_MESSAGES

MESSAGES = {**BASE_MESSAGES, **DESK_MESSAGES}
LOCALES = ("en", "ja")
DEFAULT_LOCALE = "en"


def normalise(tag: str | None) -> str | None:
    """'ja-JP' -> 'ja'; unknown languages -> None."""
    if not tag:
        return None
    base = tag.strip().lower().split("-")[0].split("_")[0]
    return base if base in LOCALES else None


def from_accept_language(header: str) -> str | None:
    """The best supported language of an Accept-Language header."""
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if (code := normalise(lang)) and weight > 0:
            ranked.append((weight, code))
    return max(ranked, key=lambda r: r[0])[1] if ranked else None


def pick_locale(request: Request, user_locale: str | None = None) -> str:
    """``?lang=`` beats the user's setting, which beats Accept-Language."""
    return (
        normalise(request.query_params.get("lang"))
        or normalise(request.session.get("lang") if "session" in request.scope else None)
        or normalise(user_locale)
        or from_accept_language(request.headers.get("accept-language", ""))
        or DEFAULT_LOCALE
    )


def translator(locale: str) -> Callable[..., str]:
    """``_(key, **fmt)`` for one locale; unknown keys come back as themselves."""
    index = LOCALES.index(locale) if locale in LOCALES else 0

    def _(key: str, **fmt: object) -> str:
        pair = MESSAGES.get(key)
        text = pair[index] if pair else key
        return text.format(**fmt) if fmt else text

    return _


def localised(titles: dict[str, str], locale: str) -> str:
    """Pick ``locale`` from a profile's {en, ja} title dict, falling back to English."""
    return titles.get(locale) or titles.get(DEFAULT_LOCALE) or next(iter(titles.values()), "")
