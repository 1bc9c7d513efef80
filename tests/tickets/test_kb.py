"""Knowledge base: an article for every failure mode, in ja and en, same answer everywhere."""

from __future__ import annotations

import pytest

from core.profiles import load_profiles
from tickets.kb import ALL_CLEAR, GENERIC, KbError, article_ids, load_article, render, vote_wording
from tickets.resolution import ARTICLES, WATCHING

RESOLVED = sorted({WATCHING, *ARTICLES.values()})

MODES = sorted(
    (mode.kb_article, name)
    for profile in load_profiles().values()
    for name, mode in profile.failure_modes.items()
)
CONTEXT = {
    "case_id": 42,
    "customer_name": "Alex",
    "device_id": "ac-00001",
    "device_title": "Room air conditioner X1",
    "observed": "filter_dp_pa 131 Pa",
    "eta": "2026-11-25 09:00",
    "up_url": "https://k.example/feedback/T?vote=up",
    "down_url": "https://k.example/feedback/T?vote=down",
}


def test_every_failure_mode_of_every_profile_has_an_article():
    assert len(MODES) == 10
    known = {article for article, _ in MODES} | {ALL_CLEAR, GENERIC, *RESOLVED}
    assert known == set(article_ids())


@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize(
    ("article_id", "mode"),
    [*MODES, (ALL_CLEAR, ""), (GENERIC, ""), *((a, "") for a in RESOLVED)],
)
def test_short_and_long_forms_give_the_same_answer(article_id, mode, locale):
    article = load_article(article_id, locale)
    assert article.locale == locale
    kind = "all_clear" if article_id in (ALL_CLEAR, *RESOLVED) else "detected"
    text = render(article_id, locale, kind, CONTEXT)
    for form in (text.short, text.long):
        assert article.summary in form and article.action in form
        assert CONTEXT["up_url"] in form and CONTEXT["down_url"] in form
        assert "42" in form
    assert article.title in text.subject
    assert all(step in text.long for step in article.steps)
    assert "\n" not in text.short and len(text.short) < 480


def test_japanese_and_english_differ_and_read_naturally():
    ja = render("ac-filter-clog", "ja", "detected", {**CONTEXT, "customer_name": "佐藤 花子"})
    en = render("ac-filter-clog", "en", "detected", CONTEXT)
    assert ja.long.startswith("佐藤 花子 様") and "お手入れ" in ja.short
    assert en.long.startswith("Hello Alex,") and "clean the air filter" in en.short
    update = render("ac-filter-clog", "ja", "update", CONTEXT)
    assert update.subject.startswith("[案件 #42] 【続報】")


def test_missing_locale_falls_back_to_english_and_unknown_article_fails():
    assert load_article("ac-filter-clog", "fr").locale == "en"
    with pytest.raises(KbError, match="no knowledge-base article"):
        load_article("no-such-article", "en")


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_one_wording_of_the_feedback_question_on_every_channel(locale):
    """Finding 6: the SMS, the e-mail and the feedback page ask the same question."""
    from api.messages import MESSAGES

    vote = vote_wording(locale)
    text = render(GENERIC, locale, "detected", CONTEXT)
    for form in (text.short, text.long):
        assert vote["question"] in form
        assert f"{vote['up']}: {CONTEXT['up_url']}" in form
        assert f"{vote['down']}: {CONTEXT['down_url']}" in form
    page = {key: MESSAGES[key][0 if locale == "en" else 1] for key in MESSAGES}
    assert (page["was_helpful"], page["helpful"], page["not_helpful"]) == (
        vote["question"],
        vote["up"],
        vote["down"],
    )
