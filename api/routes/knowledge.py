"""Knowledge-base articles: the same answer the customer got, per locale."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import CtxDep, Viewer
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas import KbArticlePublic, KbArticlesPublic
from core.profiles import DeviceProfile
from tickets.kb import KbError, article_ids, load_article

router = APIRouter(prefix="/kb", tags=["knowledge base"], responses=AUTH_ERRORS)
Locale = Annotated[Literal["en", "ja"], Query(description="Language of the article.")]


def _modes(profiles: dict[str, DeviceProfile]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for profile in profiles.values():
        for name, mode in profile.failure_modes.items():
            answers.setdefault(mode.kb_article, []).append(f"{profile.model}/{name}")
    return answers


def _public(article_id: str, locale: str, modes: dict[str, list[str]]) -> KbArticlePublic:
    a = load_article(article_id, locale)
    return KbArticlePublic(
        id=a.id,
        locale=a.locale,
        title=a.title,
        summary=a.summary,
        action=a.action,
        steps=[str(step) for step in a.steps],
        call_us=a.call_us,
        failure_modes=modes.get(a.id, []),
    )


@router.get("", response_model=KbArticlesPublic, summary="All articles in one language")
def read_articles(_: Viewer, ctx: CtxDep, locale: Locale = "en") -> KbArticlesPublic:
    """Every knowledge-base article in ``locale``: the answer customers get, per failure
    mode (the same text on SMS, chat and e-mail)."""
    modes = _modes(ctx.profiles)
    data = [_public(i, locale, modes) for i in article_ids()]
    return KbArticlesPublic(data=data, count=len(data))


@router.get(
    "/{article_id}",
    response_model=KbArticlePublic,
    summary="One article",
    responses=problem_responses(404),
)
def read_article(
    _: Viewer,
    ctx: CtxDep,
    article_id: Annotated[str, Path(min_length=1, max_length=64)],
    locale: Locale = "en",
) -> KbArticlePublic:
    """One article in ``locale``, with the failure modes it answers."""
    if article_id not in article_ids():
        raise HTTPException(404, f"No article {article_id!r}.")
    try:
        return _public(article_id, locale, _modes(ctx.profiles))
    except KbError as exc:
        raise HTTPException(404, str(exc)) from None
