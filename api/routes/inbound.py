"""Signed webhooks through which SMS, chat and LINE gateways relay customers' replies.

``POST /hooks/inbound/{channel}`` with a JSON body ``{"from", "text", "case_id"?}``,
signed as ``tickets.signing`` describes with ``inbound.webhook_secret``. The message lands
in the sender's case (``tickets.inbox.accept``) and self-service may answer at once.
401: bad or stale signature (or no secret configured); 404: the sender is no customer's
contact; 413: larger than ``inbound.max_bytes``; 422: a body that does not fit.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import ValidationError

from api.deps import CtxDep
from api.openapi import problem_responses
from api.schemas.messages import InboundAccepted, InboundBody, InboundChannel
from tickets.conversation import ConversationError, Inbound, NoMatchingCase
from tickets.inbox import accept
from tickets.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

router = APIRouter(prefix="/hooks", tags=["inbound"])


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"Larger than {limit} bytes.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise HTTPException(413, f"Larger than {limit} bytes.")
    return raw


@router.post(
    "/inbound/{channel}",
    response_model=InboundAccepted,
    status_code=202,
    summary="A customer's message from an SMS, chat or LINE gateway (signed)",
    responses=problem_responses(401, 404, 413, 422),
)
async def inbound(
    request: Request, ctx: CtxDep, channel: Annotated[InboundChannel, Path()]
) -> InboundAccepted:
    """File the message in the sender's case; answers what self-service did with it.
    Signatures are checked against wall-clock time (the demo's case clock is simulated)."""
    settings = ctx.config.tickets.inbound
    raw = await _body(request, settings.max_bytes)
    why = verify(
        settings.webhook_secret.get_secret_value(),
        request.headers.get(TIMESTAMP_HEADER),
        request.headers.get(SIGNATURE_HEADER),
        raw,
        time.time(),
        settings.max_skew_s,
    )
    if why is not None:
        raise HTTPException(401, f"Webhook refused: {why}.")
    try:
        body = InboundBody.model_validate_json(raw)
    except ValidationError as exc:
        raise HTTPException(422, f"Body does not fit: {exc.errors()[0]['msg']}") from None
    message = Inbound(channel, body.sender, body.text, case_id=body.case_id)
    try:
        done = accept(ctx.session_factory, ctx.profiles, message, ctx.clock, settings.self_service)
    except NoMatchingCase as exc:
        raise HTTPException(404, str(exc)) from None
    except ConversationError as exc:
        raise HTTPException(422, str(exc)) from None
    return InboundAccepted(
        case_id=done.case_id,
        message_id=done.message_id,
        outcome=done.reply.outcome,
        article=done.reply.article,
    )
