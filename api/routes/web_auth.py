"""Log in and out of the web pages (session cookie, CSRF-checked forms), pick a language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import authenticate
from api.deps import PageUser, SessionDep, csrf_ok
from api.i18n import normalise
from api.security import LoginThrottle
from api.templating import render
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
    next: Annotated[str | None, Query(max_length=500)] = None,  # noqa: A002
) -> Response:
    if isinstance(request.session.get("uid"), int):
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", None, next=safe_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: SessionDep,
    username: Annotated[str, Form(max_length=80)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=500)] = "/cases",  # noqa: A002
) -> Response:
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    throttle: LoginThrottle = request.app.state.login_throttle
    client = request.client.host if request.client else "?"
    if throttle.blocked(username, client):
        raise HTTPException(429, "Too many failed log-ins; wait a few minutes.")
    user = authenticate(db, username, password)
    if user is None:
        throttle.failed(username, client)
        return render(
            request,
            "login.html",
            None,
            status_code=401,
            next=safe_next(next),
            failed=True,
            username=username,
        )
    throttle.succeeded(username, client)
    lang = request.session.get("lang")
    request.session.clear()  # a fresh session (and CSRF token) after log-in
    request.session["uid"] = user.id
    if lang:
        request.session["lang"] = lang
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
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
