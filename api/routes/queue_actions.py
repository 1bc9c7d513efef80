"""The queue's forms and exports: bulk actions on selected cases, a case opened by hand,
and the filtered queue as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, tzinfo
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.actions import ActionError, perform
from api.deps import CtxDep, PageAgentForm, PageUser, SessionDep
from api.i18n import pick_locale, translator
from api.routes.pages import case_filter
from api.routes.web_auth import safe_next
from api.schemas.common import MAX_ID
from api.templating import flash, zone_of
from tickets.lifecycle import CaseError
from tickets.manual import open_by_hand
from tickets.models import Case

router = APIRouter(include_in_schema=False)
BulkAction = Literal["acknowledge", "resolve", "assign"]
MAX_BULK = 200
MAX_EXPORT = 100_000


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


CSV_COLUMNS = (
    "id",
    "status",
    "severity",
    "priority",
    "title",
    "failure_mode",
    "device_id",
    "model",
    "customer_id",
    "assignee",
    "external_ref",
    "opened_at",
    "sla_due_at",
    "resolved_at",
)


@router.get("/cases/export.csv")
def export_csv(
    user: PageUser,
    db: SessionDep,
    status: Annotated[str, Query(max_length=64)] = "all",
    severity: Annotated[str, Query(max_length=64)] = "",
    assignee: Annotated[str, Query(max_length=64)] = "",
    model: Annotated[str, Query(max_length=64)] = "",
    failure_mode: Annotated[str, Query(max_length=64)] = "",
    device_id: Annotated[str, Query(max_length=64)] = "",
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The cases matching the queue's filters as CSV (UTF-8 with BOM; times ISO 8601 in the
    user's time zone, with its offset)."""
    zone = zone_of(user.timezone)
    flt = case_filter(status, severity, assignee, model, failure_mode, device_id, q)
    query = select(Case).where(*flt.where()).order_by(Case.id).options(selectinload(Case.assignee))
    out = io.StringIO()
    out.write("\ufeff")  # so spreadsheet programs read the Japanese right
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for case in db.scalars(query.limit(MAX_EXPORT)):
        row = {name: getattr(case, name, "") for name in CSV_COLUMNS}
        row["assignee"] = case.assignee.name if case.assignee else ""
        writer.writerow([_cell(row[name], zone) for name in CSV_COLUMNS])
    head = {"Content-Disposition": 'attachment; filename="kizuki-cases.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=head)


def _cell(value: object, zone: tzinfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text  # no formula injection


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
