"""The case page (chart, explanation, timeline, notifications, feedback) and its actions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.actions import ActionError, perform
from api.case_chart import case_chart, chart_metric
from api.deps import CtxDep, PageAgentForm, PageUser, SessionDep
from api.explain import explain
from api.i18n import pick_locale, translator
from api.present import case_detail, customer_public
from api.routes.cases import load_case, load_feedback
from api.schemas import CaseDetail, NotificationPublic
from api.schemas.common import MAX_ID
from api.templating import render
from api.timeline import timeline
from core.cases import OPEN_STATUSES
from tickets.kb import Article, KbError, load_article
from tickets.lifecycle import TRANSITIONS
from tickets.models import Agent
from tickets.resolution import RESOLUTION_CODES, still_out_of_range

router = APIRouter(include_in_schema=False)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
PageAction = Literal[
    "acknowledge", "assign", "start", "note", "resolve", "close", "reopen", "review"
]


def allowed_actions(status: str) -> list[str]:
    """Buttons to show for a case in ``status`` (assign and note while it is open)."""
    moves = [name for name, (sources, _) in TRANSITIONS.items() if status in sources]
    return moves + (["assign", "note"] if status in OPEN_STATUSES else [])


def _page_kwargs(
    action: str, agent_id: int | None, text: str, code: str, confirm: bool
) -> dict[str, object]:
    """The action's arguments from the page's form (422 when something is missing)."""
    if action == "assign":
        if agent_id is None:
            raise HTTPException(422, "Pick an agent.")
        return {"agent_id": agent_id}
    if action == "note":
        if not text.strip():
            raise HTTPException(422, "Write a note first.")
        return {"text": text.strip()}
    if action == "resolve":
        return {"code": code, "note": text.strip(), "confirm": confirm}
    if action in ("close", "reopen", "review"):
        return {"note": text.strip()}
    return {}


def _article(kb_article: str, locale: str) -> Article | None:
    try:
        return load_article(kb_article, locale) if kb_article else None
    except KbError:
        return None


def _by_channel(detail: CaseDetail) -> dict[str, list[NotificationPublic]]:
    grouped: dict[str, list[NotificationPublic]] = {}
    for n in detail.notifications:
        grouped.setdefault(n.channel or "—", []).append(n)
    return grouped


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, user: PageUser, ctx: CtxDep, db: SessionDep, case_id: CaseId
) -> Response:
    case = load_case(db, case_id)
    if case is None:
        raise HTTPException(404, f"No case {case_id}.")
    locale, now = pick_locale(request, user.locale), ctx.now()
    personal = user.has_role("agent")  # the customer's personal data: agents and admins
    detail = case_detail(case, load_feedback(db, case_id), ctx.profiles, locale, personal)
    customer = case.customer if personal else None
    profile = ctx.profiles.get(case.model)
    return render(
        request, "case.html", user, nav="queue", case=detail, now=now,
        why=explain(detail.explanation, profile, now.timestamp(), locale),
        timeline=timeline(detail.timeline, locale),
        chart=case_chart(ctx, case, translator(locale)), metric=chart_metric(ctx, case),
        article=_article(case.kb_article, locale), by_channel=_by_channel(detail),
        customer=customer_public(customer) if customer else None,
        can_act=user.has_role("agent"), actions=allowed_actions(case.status),
        codes=RESOLUTION_CODES, out_of_range=still_out_of_range(case),
        agents=db.scalars(select(Agent).where(Agent.active).order_by(Agent.name)).all(),
    )  # fmt: skip


@router.post("/cases/{case_id}/actions/{action}")
async def case_action(
    request: Request,
    who: PageAgentForm,
    ctx: CtxDep,
    case_id: CaseId,
    action: Annotated[PageAction, Path()],
    agent_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    text: Annotated[str, Form(max_length=4000)] = "",
    code: Annotated[str, Form(max_length=32)] = "",
    confirm: Annotated[bool, Form()] = False,
) -> Response:
    kwargs = _page_kwargs(action, agent_id, text, code, confirm)
    try:
        perform(ctx, case_id, action, who.actor, **kwargs)
    except ActionError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
