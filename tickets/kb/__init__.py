"""Knowledge base: one article per failure mode and locale, rendered to every channel.

Articles live in ``articles/<kb_article>.yaml`` (ids come from the device profiles'
``kb_article``); ``templates.yaml`` holds the short (SMS, chat) and long (email) layouts.
Both forms quote the article's ``summary`` and ``action`` verbatim, so the customer gets
the same answer on every channel.
"""

from __future__ import annotations

from tickets.kb.render import (
    ALL_CLEAR,
    GENERIC,
    LOCALES,
    Article,
    KbError,
    Kind,
    Rendered,
    article_ids,
    load_article,
    render,
    vote_wording,
)

__all__ = [
    "ALL_CLEAR",
    "GENERIC",
    "LOCALES",
    "Article",
    "KbError",
    "Kind",
    "Rendered",
    "article_ids",
    "load_article",
    "render",
    "vote_wording",
]
