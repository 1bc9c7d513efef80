"""A case's conversation in the JSON API: read the thread, write to the customer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.actions import ActionError, perform
from api.deps import AgentRole, CtxDep, SessionDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.present import case_detail
from api.routes.cases import load_case, load_feedback
from api.schemas import CaseDetail, LinkBody
from api.schemas.common import MAX_ID
from api.schemas.messages import MessageBody, MessagePublic, MessagesPublic
from tickets.conversation import thread
from tickets.models import Case, Message

router = APIRouter(prefix="/cases", tags=["cases"], responses=AUTH_ERRORS)
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="Case id.", examples=[1])]


def message_public(m: Message) -> MessagePublic:
    """A stored message as the API shows it (with its delivery state if outbound)."""
    return MessagePublic(
        id=m.id,
        case_id=m.case_id,
        direction=m.direction,  # type: ignore[arg-type]
        channel=m.channel,
        author=m.author,
        body=m.body,
        at=m.at,
        delivery=m.notification.status if m.notification is not None else "",
    )


@router.post(
    "/{case_id}/external-ref",
    response_model=CaseDetail,
    summary="Link the case to a ticket in another helpdesk",
    responses=problem_responses(404, 422),
)
def link(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: LinkBody) -> CaseDetail:
    """Store the case's id in Zendesk, ServiceNow or a CRM (shown on the case page, in the
    CSV export and in every webhook); an empty ``external_ref`` removes it."""
    try:
        perform(ctx, case_id, "link", who.actor, external_ref=body.external_ref)
    except ActionError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    with ctx.session_factory() as db:
        case = load_case(db, case_id)
        assert case is not None
        return case_detail(case, load_feedback(db, case_id), ctx.profiles)


@router.get(
    "/{case_id}/messages",
    response_model=MessagesPublic,
    summary="The case's conversation with its customer",
    responses=problem_responses(404),
)
def read_messages(_: AgentRole, db: SessionDep, case_id: CaseId) -> MessagesPublic:
    """Every message in and out, oldest first, with the channel each used (agent role:
    this is what the customer wrote)."""
    if db.get(Case, case_id) is None:
        raise HTTPException(404, f"No case {case_id}.")
    data = [message_public(m) for m in thread(db, case_id)]
    return MessagesPublic(data=data, count=len(data))


@router.post(
    "/{case_id}/messages",
    response_model=MessagePublic,
    status_code=201,
    summary="Write to the customer",
    responses=problem_responses(404, 409, 422),
)
def write_message(who: AgentRole, ctx: CtxDep, case_id: CaseId, body: MessageBody) -> MessagePublic:
    """Send ``text`` to the case's customer on their preferred channel (through the
    outbox, with retries and fallback). On SMS it must fit two segments (422 if not)."""
    try:
        perform(ctx, case_id, "write", who.actor, text=body.text, signature=who.name)
    except ActionError as exc:
        raise HTTPException(exc.status, exc.detail) from None
    with ctx.session_factory() as db:
        return message_public(thread(db, case_id)[-1])
