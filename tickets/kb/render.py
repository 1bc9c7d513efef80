"""Load knowledge-base articles and render them into a subject, a short and a long form.

Errors::

    KbError              unknown article or locale, or an article file that does not load
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import Environment, StrictUndefined, Template

HERE = Path(__file__).parent
ARTICLES = HERE / "articles"
ALL_CLEAR = "all-clear"
GENERIC = "generic"  # for a failure mode without an article of its own
LOCALES: tuple[str, ...] = ("en", "ja")
FALLBACK_LOCALE = "en"
Kind = Literal["detected", "update", "all_clear"]


class KbError(LookupError):
    """An article or locale the knowledge base does not have."""


@dataclass(frozen=True, slots=True)
class Article:
    """One article in one locale."""

    id: str
    locale: str
    title: str
    summary: str
    action: str
    call_us: str
    steps: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    short: str
    long: str


def article_ids() -> list[str]:
    """Ids of every article shipped (file stems), including ``all-clear``."""
    return sorted(path.stem for path in ARTICLES.glob("*.yaml"))


def load_article(article_id: str, locale: str) -> Article:
    """The article in ``locale`` (falls back to English for a locale it lacks)."""
    data = _raw_article(article_id)
    body = data.get(locale) or data.get(FALLBACK_LOCALE)
    if not isinstance(body, dict):
        raise KbError(f"article {article_id!r} has no {locale!r} or {FALLBACK_LOCALE!r} text")
    try:
        return Article(
            id=article_id,
            locale=locale if locale in data else FALLBACK_LOCALE,
            title=body["title"],
            summary=body["summary"],
            action=body["action"],
            call_us=body["call_us"],
            steps=tuple(_text(step) for step in body.get("steps") or ()),
        )
    except KeyError as exc:
        raise KbError(f"article {article_id!r} ({locale}) lacks {exc}") from None


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise KbError(f"expected text, got {value!r} (quote YAML lines containing ': ')")
    return value


def render(article_id: str, locale: str, kind: Kind, context: dict[str, Any]) -> Rendered:
    """Render ``article_id`` for a notice of ``kind``.

    ``context`` keys: case_id, customer_name, device_id, device_title, and optionally
    observed, eta (already formatted text), up_url, down_url (feedback links).
    """
    article = load_article(article_id, locale)
    layout = _layouts()[article.locale]
    values = {
        "observed": "",
        "eta": "",
        "up_url": "",
        "down_url": "",
        **context,
        "a": article,
        "prefix": layout["prefix"][kind],
        "vote": layout["vote"],
    }
    loc = article.locale
    return Rendered(
        subject=_template(loc, "subject").render(values).strip(),
        short=" ".join(_template(loc, "short").render(values).split()),
        long=_template(loc, "long").render(values).strip() + "\n",
    )


def vote_wording(locale: str) -> dict[str, str]:
    """The feedback question and its two answers (keys question, up, down) in ``locale``
    (English for a locale the layouts lack): the same words on every channel."""
    layouts = _layouts()
    return dict(layouts.get(locale, layouts[FALLBACK_LOCALE])["vote"])


@cache
def _raw_article(article_id: str) -> dict[str, Any]:
    path = ARTICLES / f"{article_id}.yaml"
    if not path.is_file():
        raise KbError(f"no knowledge-base article {article_id!r} in {ARTICLES}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KbError(f"article {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise KbError(f"article {path} is not a mapping")
    return data


@cache
def _layouts() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load((HERE / "templates.yaml").read_text(encoding="utf-8")))


@cache
def _template(locale: str, form: str) -> Template:
    # Plain text out (SMS, chat, text e-mail), so no HTML autoescaping.
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return env.from_string(_layouts()[locale][form])
