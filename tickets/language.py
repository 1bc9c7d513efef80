"""Locale tags to bare languages, as articles, agents and routing compare them."""

from __future__ import annotations


def language_of(locale: object) -> str:
    """The language part of a locale tag, lower case: "ja-JP" -> "ja", "en_US" -> "en";
    "en" when unset. Articles, agents' languages and routing all use the bare language."""
    language = str(locale or "").strip().replace("_", "-").split("-")[0].lower()
    return language or "en"
