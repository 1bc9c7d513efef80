"""The queue's forms: bulk actions on selected cases and a case opened by hand."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from api.actions import ActionError, perform
from api.deps import CtxDep, PageAgentForm
from api.i18n import pick_locale, translator
from api.routes.web_auth import safe_next
from api.schemas.common import MAX_ID
from api.templating import flash
from tickets.lifecycle import CaseError
from tickets.manual import open_by_hand

router = APIRouter(include_in_schema=False)
BulkAction = Literal["acknowledge", "resolve", "assign"]
MAX_BULK = 200


@router.post("/cases/bulk")
async def bulk(
    request: Request,
    who: PageAgentForm,
    ctx: CtxDep,
    action: Annotated[BulkAction, Form()],
    case_id: Annotated[list[int], Form(max_length=MAX_BULK)],
    agent_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
    back: Annotated[str, Form(max_length=2000)] = "/cases",
) -> Response:
    """Apply ``action`` to every selected case; the ones it does not fit are reported."""
    if action == "assign" and agent_id is None:
        raise HTTPException(422, "Pick an agent.")
    done, skipped = 0, []
    for number in dict.fromkeys(case_id):
        try:
            perform(ctx, number, action, who.actor, agent_id=agent_id)
            done += 1
        except ActionError as exc:
            skipped.append(f"#{number} ({exc.detail})")
    _ = translator(pick_locale(request, who.locale))
    text = _("bulk_done", n=done)
    if skipped:
        text += " " + _("bulk_skipped", n=len(skipped), why="; ".join(skipped[:5]))
    flash(request, text)
    return RedirectResponse(safe_next(back), status_code=303)


@router.post("/cases/new")
async def new_case(
    request: Request,
    who: PageAgentForm,
    ctx: CtxDep,
    device_id: Annotated[str, Form(min_length=1, max_length=64)],
    failure_mode: Annotated[str, Form(min_length=1, max_length=64)],
    severity: Annotated[Literal["low", "medium", "high", "critical"], Form()] = "medium",
    text: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Open a case on a device by hand (a customer called); it lands on its case page."""
    try:
        case_id = open_by_hand(
            ctx.case_service, device_id.strip(), failure_mode, severity, who.actor, text.strip()
        )
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/cases/{case_id}", status_code=303)
