"""The public feedback page behind the link in every notification (no login).

GET shows the question (with the vote from the link preselected, so a mail scanner
following links records nothing); POST records the vote and an optional comment.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import CtxDep, csrf_ok
from api.templating import render
from tickets.feedback import (
    ExpiredToken,
    FeedbackClaim,
    FeedbackError,
    InvalidToken,
    InvalidVote,
    SpentToken,
    UnknownNotification,
    check_link,
    record_feedback,
)
from tickets.models import Notification

router = APIRouter(tags=["feedback"], include_in_schema=False)
Token = Annotated[str, Path(min_length=1, max_length=500)]
Vote = Literal["up", "down"]


def _status_of(exc: FeedbackError) -> int:
    if isinstance(exc, ExpiredToken | SpentToken):
        return 410
    if isinstance(exc, InvalidToken):
        return 400
    if isinstance(exc, UnknownNotification):
        return 404
    return 422 if isinstance(exc, InvalidVote) else 400


@router.get("/feedback/{token}", response_class=HTMLResponse)
def feedback_form(
    request: Request, ctx: CtxDep, token: Token, vote: Annotated[Vote | None, Query()] = None
) -> Response:
    try:
        claim = check_link(ctx.session_factory, token, settings=ctx.config.tickets)
    except FeedbackError as exc:
        raise HTTPException(_status_of(exc), str(exc)) from None
    return render(
        request,
        "feedback.html",
        None,
        default_locale=_customer_locale(ctx, claim),
        token=token,
        vote=vote,
        done=False,
    )


def _customer_locale(ctx: CtxDep, claim: FeedbackClaim) -> str | None:
    """The language the customer was written to in."""
    with ctx.session_factory() as session:
        notification = session.get(Notification, claim.notification_id)
        return notification.locale if notification else None


@router.post("/feedback/{token}", response_class=HTMLResponse)
def feedback_submit(
    request: Request,
    ctx: CtxDep,
    token: Token,
    vote: Annotated[Vote, Form()],
    csrf_token: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; open the link again.")
    try:
        result = record_feedback(
            ctx.session_factory, token, vote, comment, settings=ctx.config.tickets
        )
    except FeedbackError as exc:
        raise HTTPException(_status_of(exc), str(exc)) from None
    claim = FeedbackClaim(result.notification_id, result.case_id)
    return render(
        request,
        "feedback.html",
        None,
        default_locale=_customer_locale(ctx, claim),
        token=token,
        vote=vote,
        done=True,
    )
