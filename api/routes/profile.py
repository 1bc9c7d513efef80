"""Each user's profile: interface language and time zone (every time on the pages is
shown in it, with the zone named)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import CtxDep, PageUser, SessionDep, csrf_ok
from api.i18n import LOCALES, pick_locale, translator
from api.templating import flash, render
from tickets.models import User

router = APIRouter(include_in_schema=False)
COMMON_ZONES = (
    "UTC",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Singapore",
    "Australia/Sydney",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Madrid",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
)


@router.get("/me", response_class=HTMLResponse)
def profile(request: Request, user: PageUser, ctx: CtxDep) -> Response:
    zones = sorted(available_timezones())
    return render(
        request, "profile.html", user, nav="me", now=ctx.now(), common=COMMON_ZONES, zones=zones
    )


@router.post("/me/profile")
def save_profile(
    request: Request,
    user: PageUser,
    db: SessionDep,
    locale: Annotated[str, Form(max_length=8)],
    timezone: Annotated[str, Form(max_length=64)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Save language and time zone; an unknown zone or language is refused."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    if locale not in LOCALES or timezone not in available_timezones():
        raise HTTPException(422, f"Unknown language {locale!r} or time zone {timezone!r}.")
    row = db.get(User, user.user_id)
    if row is not None:
        row.locale, row.timezone = locale, timezone
        db.commit()
    request.session.pop("lang", None)
    flash(request, translator(pick_locale(request, locale))("profile_saved"))
    return RedirectResponse("/me", status_code=303)
