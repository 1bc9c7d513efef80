"""Web pages for the service team: the case queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.deps import CtxDep, PageUser, SessionDep
from api.desk import awaiting_reply
from api.i18n import localised, pick_locale
from api.present import case_public
from api.queries import (
    SEVERITIES,
    SORT_CHOICES,
    BadCursor,
    CaseFilter,
    find_customers_and_devices,
    list_cases,
    open_case_counts,
    parse_id,
    severity_counts,
)
from api.templating import render
from core.cases import CASE_STATUSES, OPEN_STATUSES
from tickets.models import REVIEW_STATES, Agent, Case

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Query(max_length=64)]


@router.get("/")
def home() -> Response:
    return RedirectResponse("/cases", status_code=303)


def case_filter(
    status: str,
    severity: str,
    assignee: str,
    model: str,
    mode: str,
    device_id: str = "",
    q: str = "",
) -> CaseFilter:
    """The queue's query parameters as a filter (unknown values mean "any")."""
    statuses: list[str] = (
        list(OPEN_STATUSES) if status == "active" else [status] if status in CASE_STATUSES else []
    )
    ok_assignee = assignee if assignee == "none" or parse_id(assignee) is not None else None
    return CaseFilter(
        status=statuses,
        severity=[severity] if severity in SEVERITIES else [],
        assignee=ok_assignee,
        model=model or None,
        failure_mode=mode or None,
        device_id=device_id or None,
        text=q or None,
    )


def _failure_modes(ctx: CtxDep, locale: str) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for profile in ctx.profiles.values():
        for name, spec in profile.failure_modes.items():
            seen.setdefault(name, localised(spec.title, locale))
    return sorted(seen.items(), key=lambda kv: kv[1])


@router.get("/cases", response_class=HTMLResponse)
def queue(
    request: Request,
    user: PageUser,
    ctx: CtxDep,
    db: SessionDep,
    status: Text = "active",
    severity: Text = "",
    assignee: Text = "",
    model: Text = "",
    failure_mode: Text = "",
    device_id: Text = "",
    review: Text = "",
    q: Annotated[str, Query(max_length=100)] = "",
    sort: Text = "sla_due_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    locale = pick_locale(request, user.locale)
    flt = case_filter(status, severity, assignee, model, failure_mode, device_id, q)
    flt.review = review if review in REVIEW_STATES else None
    sort = sort if sort in SORT_CHOICES else "sla_due_at"
    try:
        page = list_cases(db, flt, sort, 50, cursor)
    except BadCursor:
        page = list_cases(db, flt, sort, 50, None)
    counts_filter = CaseFilter(
        flt.status,
        [],
        flt.assignee,
        flt.model,
        flt.failure_mode,
        flt.device_id,
        flt.review,
        flt.text,
    )
    agents = db.scalars(select(Agent).where(Agent.active).order_by(Agent.name)).all()
    load = open_case_counts(db, Case.assignee_id)
    return render(
        request,
        "queue.html",
        user,
        nav="queue",
        cases=[case_public(c, ctx.profiles, locale) for c in page.cases],
        awaiting=awaiting_reply(db, [c.id for c in page.cases]),
        found=find_customers_and_devices(db, q) if q.strip() else None,
        total=page.total,
        next_cursor=page.next_cursor,
        counts=severity_counts(db, counts_filter),
        now=ctx.now(),
        agents=agents,
        load=load,
        unassigned=load.get(None, 0),
        models=sorted((m, p.title) for m, p in ctx.profiles.items()),
        modes=_failure_modes(ctx, locale),
        statuses=CASE_STATUSES,
        severities=SEVERITIES,
        sorts=SORT_CHOICES,
        f={
            "status": status,
            "review": flt.review or "",
            "severity": severity,
            "assignee": assignee,
            "model": model,
            "failure_mode": failure_mode,
            "device_id": device_id,
            "q": q,
            "sort": sort,
        },
    )
