"""Service cases: the filtered queue, one case in full, and what agents do to a case."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.actions import ActionError, perform
from api.deps import Admin, AgentRole, CtxDep, SessionDep, Viewer
from api.openapi import AUTH_ERRORS, problem_responses
from api.present import case_detail, case_public
from api.queries import BadCursor, CaseFilter, SortName, list_cases
from api.schemas import (
    ActionBody,
    AssignBody,
    CaseDetail,
    CasesPublic,
    NoteBody,
    ResolveBody,
    ReviewBody,
    SeverityName,
    StatusName,
)
from api.schemas.common import MAX_ID, ReviewName
from tickets.models import Case, Feedback, Notification

router = APIRouter(prefix="/cases", tags=["cases"], responses=AUTH_ERRORS)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="Case id.", examples=[1])]
NOT_FOUND = problem_responses(404)
ACTION_ERRORS = problem_responses(404, 409)


@router.get(
    "",
    response_model=CasesPublic,
    summary="List cases (filter, sort, page)",
    responses=problem_responses(400),
)
def read_cases(
    _: Viewer,
    ctx: CtxDep,
    db: SessionDep,
    status: Annotated[list[StatusName] | None, Query()] = None,
    severity: Annotated[list[SeverityName] | None, Query()] = None,
    assignee: Annotated[
        str | None,
        Query(
            pattern=r"^(none|[1-9][0-9]{0,8})$", description="Agent id, or 'none' for unassigned."
        ),
    ] = None,
    model: Annotated[str | None, Query(max_length=64, description="Product model.")] = None,
    failure_mode: Annotated[str | None, Query(max_length=64)] = None,
    device_id: Annotated[str | None, Query(max_length=64)] = None,
    review: Annotated[
        ReviewName | None, Query(description="Only cases in this review state.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Search: '#12' is case 12; else every word (or \"quoted phrase\") "
            "must be a case number or a substring of the title, device, model, failure mode, "
            "external ticket id, resolution note, a conversation message, or the customer's "
            "id, name or contact point.",
        ),
    ] = None,
    sort: Annotated[SortName, Query(description="Order; '-' = descending.")] = "sla_due_at",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CasesPublic:
    """The queue: cases matching every filter given (repeat ``status`` or ``severity`` for
    several), in ``sort`` order, a page at a time. ``count`` is the total over all pages;
    pass ``next_cursor`` back as ``cursor`` with the same ``sort`` for the next page."""
    flt = CaseFilter(
        list(status or []),
        list(severity or []),
        assignee,
        model,
        failure_mode,
        device_id,
        review,
        q,
    )
    try:
        page = list_cases(db, flt, sort, limit, cursor)
    except BadCursor as exc:
        raise HTTPException(400, f"Bad cursor: {exc}. Start again without ?cursor=.") from None
    data = [case_public(c, ctx.profiles) for c in page.cases]
    return CasesPublic(data=data, count=page.total, next_cursor=page.next_cursor)


def load_case(db: Session, case_id: int) -> Case | None:
    """A case with everything its page shows, or None."""
    return db.scalar(
        select(Case)
        .where(Case.id == case_id)
        .options(
            selectinload(Case.events),
            selectinload(Case.assignee),
            selectinload(Case.notifications).selectinload(Notification.attempts_log),
        )
    )


def load_feedback(db: Session, case_id: int) -> list[Feedback]:
    return list(
        db.scalars(select(Feedback).where(Feedback.case_id == case_id).order_by(Feedback.id))
    )


def _detail(ctx: CtxDep, db: Session, case_id: int, personal: bool = True) -> CaseDetail:
    """The case; ``personal`` only for agents and admins (see ``present.case_detail``)."""
    case = load_case(db, case_id)
    if case is None:
        raise HTTPException(404, f"No case {case_id}.")
    return case_detail(case, load_feedback(db, case_id), ctx.profiles, personal=personal)


@router.get(
    "/{case_id}", response_model=CaseDetail, summary="One case in full", responses=NOT_FOUND
)
def read_case(who: Viewer, ctx: CtxDep, db: SessionDep, case_id: CaseId) -> CaseDetail:
    """Everything about one case: the explanation, the timeline, each notification with
    its delivery attempts (feedback links redacted), and the customer's feedback. The
    customer's personal data (message bodies, comments, addresses) needs the agent role:
    viewers get the notifications with ``redacted: true``."""
    return _detail(ctx, db, case_id, personal=who.has_role("agent"))


def _act(ctx: CtxDep, case_id: int, action: str, actor: str, **kwargs: object) -> CaseDetail:
    try:
        perform(ctx, case_id, action, actor, **kwargs)
    except ActionError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    with ctx.session_factory() as db:
        return _detail(ctx, db, case_id)


@router.post(
    "/{case_id}/acknowledge",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Acknowledge: someone is looking at it",
)
def acknowledge(who: AgentRole, ctx: CtxDep, case_id: CaseId) -> CaseDetail:
    """open -> acknowledged. Answers the case as it is now."""
    return _act(ctx, case_id, "acknowledge", who.actor)


@router.post(
    "/{case_id}/assign",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Assign to an agent",
)
def assign(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: AssignBody) -> CaseDetail:
    """Give an open case to an active agent (404 if there is none with that id). An agent
    who lacks the case's product line, skill or language is refused (409) unless
    ``override_reason`` says why; the reason goes on the timeline."""
    return _act(
        ctx, case_id, "assign", who.actor, agent_id=body.agent_id, override=body.override_reason
    )


@router.post(
    "/{case_id}/start",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Start work on the case",
)
def start(who: AgentRole, ctx: CtxDep, case_id: CaseId) -> CaseDetail:
    """open or acknowledged -> in_progress."""
    return _act(ctx, case_id, "start", who.actor)


@router.post(
    "/{case_id}/notes",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Add a note to the timeline",
)
def add_note(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: NoteBody) -> CaseDetail:
    """Append a note to the timeline, signed by the caller."""
    return _act(ctx, case_id, "note", who.actor, text=body.text)


@router.post(
    "/{case_id}/resolve",
    response_model=CaseDetail,
    responses=problem_responses(404, 409, 422),
    summary="Resolve, with a resolution code and a note",
)
def resolve(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: ResolveBody) -> CaseDetail:
    """Any open status -> resolved. The code decides what the customer hears: a fix
    while the device's telemetry is still out of range is refused (409) unless
    ``confirm`` is true, and then the customer hears "fixed, we are watching", not "all
    clear"; ``false_alarm`` teaches the detectors (reopening withdraws it); ``duplicate``
    tells the customer nothing."""
    return _act(
        ctx, case_id, "resolve", who.actor, code=body.code, note=body.note, confirm=body.confirm
    )


@router.post(
    "/{case_id}/review",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Settle a customer's disagreement",
)
def review(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: ReviewBody) -> CaseDetail:
    """A customer's thumbs-down puts the case in review ('customer_disagrees'); the agent
    who looked at it says what they found (409 when there is nothing to review)."""
    return _act(ctx, case_id, "review", who.actor, note=body.note)


@router.post(
    "/{case_id}/close", response_model=CaseDetail, responses=ACTION_ERRORS, summary="Close the case"
)
def close(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: ActionBody) -> CaseDetail:
    """resolved -> closed, with an optional note."""
    return _act(ctx, case_id, "close", who.actor, note=body.note)


@router.post(
    "/{case_id}/reopen",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Reopen a resolved or closed case",
)
def reopen(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: ActionBody) -> CaseDetail:
    """resolved or closed -> open (409 while another case is open for the same device and
    failure mode)."""
    return _act(ctx, case_id, "reopen", who.actor, note=body.note)


@router.post(
    "/{case_id}/label",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Label the case a false alarm (admin): the detectors learn it",
)
def label(who: Admin, ctx: CtxDep, case_id: CaseId, body: ReviewBody) -> CaseDetail:
    """The device's metrics of this failure mode take their current level as normal (the
    engine applies it within seconds). 409 if the case is labelled already."""
    return _act(ctx, case_id, "label", who.actor, note=body.note)


@router.delete(
    "/{case_id}/label",
    response_model=CaseDetail,
    responses=ACTION_ERRORS,
    summary="Withdraw the case's false-alarm label (admin)",
)
def unlabel(who: Admin, ctx: CtxDep, case_id: CaseId) -> CaseDetail:
    """The detectors go back to the state they had before learning the label (409 when
    there is no label to withdraw)."""
    return _act(ctx, case_id, "unlabel", who.actor, note="")
