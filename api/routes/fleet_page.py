"""The fleet overview: health per product model, then the devices, a page at a time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.context import AppContext
from api.deps import CtxDep, PageUser, SessionDep
from api.fleet import HEALTHS, LatestOf, clock_of, device_page, fleet_rows
from api.queries import CaseFilter, severity_counts
from api.templating import render
from core.cases import OPEN_STATUSES
from ingest.base import StoreError

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


def _figures(
    db: Session, ctx: AppContext, model: str, page: int, latest: LatestOf
) -> dict[str, Any]:
    now, stale = clock_of(ctx)
    return {
        "rows": fleet_rows(db, latest, now, stale),
        "devices": device_page(db, latest, (now, stale), model or None, page, PER_PAGE),
        "stale_after_s": stale,
        "now_ts": now,
    }


@router.get("/fleet", response_class=HTMLResponse)
def fleet(
    request: Request,
    user: PageUser,
    ctx: CtxDep,
    db: SessionDep,
    model: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=10**6)] = 1,
) -> Response:
    try:
        figures, store_down = _figures(db, ctx, model, page, ctx.latest.get), False
    except StoreError:  # still show cases and open counts; health says it cannot tell
        figures, store_down = _figures(db, ctx, model, page, lambda _: None), True
    return render(
        request,
        "fleet.html",
        user,
        nav="fleet",
        healths=HEALTHS,
        counts=severity_counts(db, CaseFilter(status=list(OPEN_STATUSES))),
        model=model,
        store_down=store_down,
        titles={m: p.title for m, p in ctx.profiles.items()},
        **figures,
    )
