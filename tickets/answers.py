"""Find the knowledge-base answer to a customer's question, locally (BM25, no downloads).

Each failure article is one document per language: its title, summary, action, steps
and the customers' own phrasings in ``kb/asks.yaml``. English is split into lower-case
words with a light suffix strip; Japanese is split by Janome's morphological analyser
(its dictionary ships inside the PyPI package), keeping the base form of nouns, verbs
and adjectives. The index spans every article (so rare words weigh more), and the
answer is picked among the articles of the customer's product only.

``best_answer`` returns None when unsure: no product article scores at least
``MIN_SCORE``, or the runner-up is within ``MIN_MARGIN`` of the best. The caller then
hands the conversation to a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from janome.tokenizer import Tokenizer
from rank_bm25 import BM25Okapi

from core.profiles import DeviceProfile, load_profiles
from tickets.kb import article_ids, load_article

ASKS = Path(__file__).with_name("kb") / "asks.yaml"
MIN_SCORE = 2.0
PREFER_MIN_SCORE = 1.0  # the case's own article needs less evidence (see best_answer)
MIN_MARGIN = 0.15  # the runner-up must score below (1 - MIN_MARGIN) x the best
STOPWORDS = (
    "a an the and or but is are was were be been it its this that my our your i we you "
    "of to in on at for with from by as do does did not no so very much more less than "
    "what why how when can could should would will there here has have had me us "
    # the product itself: every candidate is about it, so it tells answers apart by chance
    "aircon conditioner pump heater product unit"
)
EN_STOP = frozenset(STOPWORDS.split())
JA_POS = ("名詞", "動詞", "形容詞")
JA_STOP = frozenset(
    {"する", "いる", "なる", "ある", "れる", "られる", "の", "こと", "よう"}
    | {"エアコン", "ポンプ", "給湯機", "給湯器", "製品"}  # the product itself (see EN_STOP)
)


@dataclass(frozen=True, slots=True)
class Answer:
    article: str
    score: float
    runner_up: float


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@cache
def _janome() -> Tokenizer:
    return Tokenizer()


def tokens(text: str, locale: str) -> list[str]:
    """Search terms of ``text`` in ``locale`` ("ja" or anything else as English)."""
    if locale == "ja":
        found = []
        for token in _janome().tokenize(text):
            pos = token.part_of_speech.split(",")
            base = token.base_form if token.base_form != "*" else token.surface
            if pos[0] in JA_POS and pos[1] not in ("非自立", "数") and base not in JA_STOP:
                found.append(base.lower())
        return found
    words = re.findall(r"[a-z0-9]+", text.lower())
    return [_stem(w) for w in words if w not in EN_STOP and len(w) > 1]


def _asks() -> dict[str, dict[str, list[str]]]:
    data = yaml.safe_load(ASKS.read_text(encoding="utf-8")) or {}
    return {str(k): v for k, v in data.items()}


@cache
def _index(locale: str) -> tuple[tuple[str, ...], BM25Okapi]:
    asks = _asks()
    # only what answers a product question: notice-only articles (all clear, generic,
    # the resolution messages) would shift every word's weight without being answers
    answerable = {
        spec.kb_article for p in load_profiles().values() for spec in p.failure_modes.values()
    }
    ids = tuple(a for a in article_ids() if a in answerable)
    corpus = []
    for article_id in ids:
        a = load_article(article_id, locale)
        parts: Iterable[str] = (a.title, a.summary, a.action, *a.steps)
        text = " ".join([*parts, *asks.get(article_id, {}).get(locale, [])])
        corpus.append(tokens(text, locale))
    return ids, BM25Okapi(corpus)


def product_articles(profiles: Mapping[str, DeviceProfile], model: str) -> set[str]:
    """The articles of the failure modes of ``model``'s profile."""
    profile = profiles.get(model)
    return {spec.kb_article for spec in profile.failure_modes.values()} if profile else set()


def scores(question: str, locale: str) -> dict[str, float]:
    """BM25 score of every article for ``question``."""
    locale = "ja" if locale == "ja" else "en"
    ids, bm25 = _index(locale)
    values = bm25.get_scores(tokens(question, locale))
    return {article: float(value) for article, value in zip(ids, values, strict=True)}


def best_answer(
    question: str, locale: str, candidates: set[str], prefer: str = ""
) -> Answer | None:
    """The candidate article that answers ``question``, or None when unsure. ``prefer``
    (the customer's case's article) wins when it is one of the two best and scores at
    least ``PREFER_MIN_SCORE``: what the case is about settles a near tie or a short
    question."""
    ranked = sorted(
        ((s, a) for a, s in scores(question, locale).items() if a in candidates), reverse=True
    )
    if not ranked:
        return None
    best, article = ranked[0]
    runner_up = ranked[1][0] if len(ranked) > 1 else 0.0
    for score, name in ranked[:2]:
        if name == prefer and score >= PREFER_MIN_SCORE:
            return Answer(name, score, max(s for s, a in ranked if a != name) if runner_up else 0.0)
    if best < MIN_SCORE or runner_up > best * (1 - MIN_MARGIN):
        return None
    return Answer(article, best, runner_up)
