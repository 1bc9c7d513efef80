"""Every error leaves the app as an RFC 9457 problem document, never a traceback.

Exceptions::

    LoginRequired    a web page was asked for without a session (redirects to /login)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

PageRenderer = Callable[[Request, dict[str, Any]], Response]

PROBLEM_JSON = "application/problem+json"
FASTAPI_BODY_ERROR = "There was an error parsing the body"


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def problem(status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    """A problem-details body for ``status``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def _wants_html(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


def _respond(request: Request, body: dict[str, Any], headers: Mapping[str, str] | None) -> Response:
    body.setdefault("instance", request.url.path)
    render_page: PageRenderer | None = getattr(request.app.state, "render_error", None)
    if render_page is not None and _wants_html(request):
        return render_page(request, body)
    return JSONResponse(body, status_code=body["status"], headers=headers, media_type=PROBLEM_JSON)


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registration guard
        raise exc
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 400 and detail == FASTAPI_BODY_ERROR:
        return _respond(request, _unreadable_body(), None)
    return _respond(request, problem(exc.status_code, detail), exc.headers)


def _unreadable_body() -> dict[str, Any]:
    """FastAPI answers 400 for a body it cannot even decode (not UTF-8); for the client
    that is one more invalid request, so it gets the same 422 as malformed JSON."""
    errors = [{"loc": ["body"], "msg": "The body is not readable JSON (UTF-8 expected)."}]
    return problem(422, "The request is not valid.", errors=errors)


async def _validation_error(request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    clean = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors]
    body = problem(422, "The request is not valid.", errors=clean)
    return _respond(request, body, None)


async def _login_required(request: Request, exc: Exception) -> Response:
    target = exc.next_url if isinstance(exc, LoginRequired) else "/"
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


class CatchAll:
    """ASGI middleware: an unexpected exception becomes a 500 problem, logged once.

    Starlette's own last-resort handler re-raises after answering, which makes servers
    drop the keep-alive connection; this one answers and stops there.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise
            request = Request(scope)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            body = problem(500, "Something went wrong on our side.", instance=request.url.path)
            await _last_resort(request, body)(scope, receive, send)


def _last_resort(request: Request, body: dict[str, Any]) -> Response:
    """The 500 answer: a page for people (if it can be drawn), else a problem document."""
    try:
        return _respond(request, body, None)
    except Exception:  # noqa: BLE001 - drawing the page failed too
        log.exception("the error page failed; answering with a problem document")
        return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


def install_error_handlers(app: FastAPI, render_page: PageRenderer | None = None) -> None:
    """Route HTTP, validation and unexpected errors through problem details.

    ``render_page`` draws the error page for a browser; without it everyone gets JSON.
    """
    app.state.render_error = render_page
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_middleware(CatchAll)
