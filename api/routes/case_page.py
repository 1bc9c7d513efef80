"""The case page (chart, explanation, timeline, notifications, feedback) and its actions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.actions import ActionError, PageAction, perform
from api.auth import Principal
from api.case_chart import case_chart, chart_metric
from api.deps import CtxDep, PageAgentForm, PageUser, SessionDep
from api.desk import conversation, fits
from api.explain import explain
from api.i18n import pick_locale, translator
from api.present import case_detail, customer_public
from api.routes.cases import load_case, load_feedback
from api.schemas import CaseDetail, NotificationPublic
from api.schemas.cases import EXTERNAL_REF
from api.schemas.common import MAX_ID
from api.templating import flash, render
from api.timeline import timeline
from core.cases import OPEN_STATUSES
from core.profiles import metric_title
from tickets.fit import AgentMismatch
from tickets.kb import Article, KbError, load_article
from tickets.lifecycle import TRANSITIONS
from tickets.models import Case
from tickets.resolution import RESOLUTION_CODES, still_out_of_range

router = APIRouter(include_in_schema=False)
CaseRef = Annotated[str, Path(max_length=40)]


def allowed_actions(status: str) -> list[str]:
    """Buttons to show for a case in ``status`` (assign and note while it is open)."""
    moves = [name for name, (sources, _) in TRANSITIONS.items() if status in sources]
    return moves + (["assign", "note"] if status in OPEN_STATUSES else [])


@dataclass(frozen=True, slots=True)
class _Form:
    agent_id: int | None
    text: str
    code: str
    confirm: bool
    override: str
    external_ref: str
    signature: str


def _page_kwargs(action: str, form: _Form) -> dict[str, object]:
    """The action's arguments from the page's form (422 when something is missing)."""
    text = form.text.strip()
    if action == "assign":
        if form.agent_id is None:
            raise HTTPException(422, "Pick an agent.")
        return {"agent_id": form.agent_id, "override": form.override}
    if action == "note":
        if not text:
            raise HTTPException(422, "Write a note first.")
        return {"text": text}
    if action == "resolve":
        return {"code": form.code, "note": text, "confirm": form.confirm}
    if action in ("close", "reopen", "review"):
        return {"note": text}
    if action == "write":
        return {"text": form.text, "signature": form.signature}
    if action == "link":
        return {"external_ref": form.external_ref}
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


def _metric_name(ctx: CtxDep, case: Case, locale: str) -> str:
    metric = chart_metric(ctx, case)
    return metric_title(ctx.profiles.get(case.model), metric, locale) if metric else ""


def case_number(ref: str) -> int:
    """A case id from a URL: anything that is not one is a 404 (not a 422)."""
    if not ref.isdigit() or not 1 <= int(ref) <= MAX_ID:
        raise HTTPException(404, f"No case {ref!r}.")
    return int(ref)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, user: PageUser, ctx: CtxDep, db: SessionDep, case_id: CaseRef
) -> Response:
    number = case_number(case_id)
    case = load_case(db, number)
    if case is None:
        raise HTTPException(404, f"No case {number}.")
    locale, now = pick_locale(request, user.locale), ctx.now()
    tz = user.timezone or "UTC"
    personal = user.has_role("agent")  # the customer's personal data: agents and admins
    detail = case_detail(case, load_feedback(db, number), ctx.profiles, locale, personal)
    customer = case.customer if personal else None
    profile = ctx.profiles.get(case.model)
    return render(
        request,
        "case.html",
        user,
        nav="queue",
        case=detail,
        now=now,
        why=explain(detail.explanation, profile, now.timestamp(), locale, tz),
        timeline=timeline(detail.timeline, locale, tz),
        chart=case_chart(ctx, case, translator(locale), locale, tz),
        metric=_metric_name(ctx, case, locale),
        article=_article(case.kb_article, locale),
        by_channel=_by_channel(detail),
        customer=customer_public(customer) if customer else None,
        can_act=user.has_role("agent"),
        actions=allowed_actions(case.status),
        codes=RESOLUTION_CODES,
        out_of_range=still_out_of_range(case),
        agents=fits(db, case, ctx.profiles),
        conv=conversation(db, case, translator(locale)("bot_name")) if customer else None,
    )


def _refusal(
    request: Request, ctx: CtxDep, who: Principal, number: int, action: str, exc: ActionError
) -> str:
    """Why an action was not done, in the reader's language where we know the shape."""
    _ = translator(pick_locale(request, who.locale))
    if isinstance(exc.cause, AgentMismatch):
        return _("flash_misfit")
    if exc.status != 409 or action not in TRANSITIONS:
        return exc.detail
    with ctx.session_factory() as db:
        case = load_case(db, number)
    status = case.status if case is not None else ""
    return _("flash_already", status=_(status)) if status else exc.detail


@router.post("/cases/{case_id}/actions/{action}")
async def case_action(
    request: Request,
    who: PageAgentForm,
    ctx: CtxDep,
    case_id: CaseRef,
    action: Annotated[PageAction, Path()],
    agent_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    text: Annotated[str, Form(max_length=4000)] = "",
    code: Annotated[str, Form(max_length=32)] = "",
    confirm: Annotated[bool, Form()] = False,
    override: Annotated[str, Form(max_length=500)] = "",
    external_ref: Annotated[str, Form(max_length=120, pattern=EXTERNAL_REF)] = "",
) -> Response:
    """Do ``action``; a refusal that the case's state explains (already acknowledged, an
    agent who does not fit, an SMS too long, a device still out of range) comes back on
    the case page, not a dead end."""
    number = case_number(case_id)
    form = _Form(agent_id, text, code, confirm, override, external_ref.strip(), who.name)
    kwargs = _page_kwargs(action, form)
    try:
        perform(ctx, number, action, who.actor, **kwargs)
    except ActionError as exc:
        if exc.status not in (409, 422):
            raise HTTPException(exc.status, exc.detail) from None
        draft = text if action == "write" else ""
        flash(request, _refusal(request, ctx, who, number, action, exc), draft=draft)
    anchor = "#conversation" if action == "write" else ""
    return RedirectResponse(f"/cases/{number}{anchor}", status_code=303)
