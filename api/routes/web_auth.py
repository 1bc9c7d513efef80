"""Log in and out of the web pages (session cookie, CSRF-checked forms), pick a language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import authenticate, end_sessions
from api.deps import CtxDep, PageUser, SessionDep, csrf_ok, session_principal
from api.i18n import normalise
from api.templating import render
from api.throttle import LoginBusy
from tickets.models import User

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only same-site paths: no scheme, no host, no '//' tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/cases"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    db: SessionDep,
    next: Annotated[str | None, Query(max_length=500)] = None,  # noqa: A002
) -> Response:
    if session_principal(request, db) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", None, next=safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=500)] = "/cases",  # noqa: A002
) -> Response:
    """Check the password (throttled per account and client, a few at a time) and start
    a fresh session: new cookie contents, new CSRF token, the user's session version."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    state = request.app.state
    client = state.proxies.client(request.scope)
    wait = await run_in_threadpool(state.login_throttle.admit, username, client)
    if wait:
        raise HTTPException(
            429, "Too many failed log-ins; wait a little.", {"Retry-After": str(wait)}
        )
    try:
        found = await state.password_gate.run(lambda: _check(ctx, username, password))
    except LoginBusy as exc:
        raise HTTPException(503, str(exc), {"Retry-After": "2"}) from None
    if found is None:  # the attempt was counted when it was admitted
        return render(
            request,
            "login.html",
            None,
            status_code=401,
            next=safe_next(next),
            failed=True,
            username=username,
        )
    await run_in_threadpool(state.login_throttle.succeeded, username, client)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) after log-in
    request.session.update({"uid": found[0], "sv": found[1]})
    if lang:
        request.session["lang"] = lang
    return RedirectResponse(safe_next(next), status_code=303)


def _check(ctx: CtxDep, username: str, password: str) -> tuple[int, int] | None:
    """The user id and session version for these credentials, or None."""
    with ctx.session_factory() as session:
        user = authenticate(session, username, password)
        return (user.id, user.session_version) if user is not None else None


@router.post("/logout")
def logout(request: Request, ctx: CtxDep, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End this user's sessions everywhere (a saved copy of the cookie no longer works)."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    uid = request.session.get("uid")
    if isinstance(uid, int):
        end_sessions(ctx.session_factory, uid)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.post("/me/locale")
def set_locale(
    request: Request,
    user: PageUser,
    db: SessionDep,
    locale: Annotated[str, Form(max_length=8)],
    csrf_token: Annotated[str, Form()] = "",
    back: Annotated[str, Form(max_length=500)] = "/cases",
) -> Response:
    """Save the interface language as the user's setting."""
    if not csrf_ok(request, csrf_token) or normalise(locale) is None:
        raise HTTPException(403 if normalise(locale) else 422, "Cannot change the language.")
    row = db.get(User, user.user_id)
    if row is not None:
        row.locale = normalise(locale) or "en"
        db.commit()
    request.session.pop("lang", None)
    return RedirectResponse(safe_next(back), status_code=303)
