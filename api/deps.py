"""FastAPI dependencies as ``Annotated`` aliases: context, DB session, who is asking.

``Viewer``, ``AgentRole`` and ``Admin`` authenticate (API key, bearer token or session
cookie) and enforce the role: nobody -> 401, too little -> 403. Page variants redirect
to the login form instead of answering 401.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from fastapi import Depends, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.auth import Principal, Role, principal_for_key, principal_for_user
from api.context import AppContext
from api.errors import LoginRequired
from tickets.models import User

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (viewer, agent or admin)."
)
bearer_scheme = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def get_db(ctx: CtxDep) -> Iterator[Session]:
    with ctx.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def _is_list(annotation: object) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return origin in (Union, UnionType) and any(_is_list(a) for a in get_args(annotation))


def single_query_values(request: Request) -> None:
    """A query parameter that takes one value must come once: ``?model=a&model=b`` is a
    422, not silently ``b``."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    params = dependant.query_params if dependant is not None else []
    repeated = [
        p.alias
        for p in params
        if not _is_list(p.field_info.annotation) and len(request.query_params.getlist(p.alias)) > 1
    ]
    if repeated:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "Give this parameter once."} for name in repeated]
        )


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def csrf_ok(request: Request, offered: str | None) -> bool:
    expected = request.session.get("csrf")
    return bool(expected and offered and hmac.compare_digest(str(expected), offered))


def session_principal(request: Request, db: Session) -> Principal | None:
    """The active user of the request's signed session cookie, or None. The cookie must
    carry the user's current session version (log-out and a new password bump it)."""
    uid, version = request.session.get("uid"), request.session.get("sv")
    if not isinstance(uid, int) or not isinstance(version, int):
        return None
    user = db.get(User, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return principal_for_user(user)


def get_principal(
    request: Request,
    db: SessionDep,
    api_key: Annotated[str | None, Security(api_key_scheme)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> Principal | None:
    """Whoever the request acts for, or None. A key that does not check out is a 401."""
    key = api_key or (bearer.credentials if bearer else None)
    if key:
        principal = principal_for_key(db, key)
        if principal is None:
            raise HTTPException(401, "Unknown or revoked API key.", _challenge())
        return principal
    principal = session_principal(request, db)
    unsafe = request.method in UNSAFE_METHODS
    if principal and unsafe and not csrf_ok(request, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "Missing or wrong X-CSRF-Token for a cookie session.")
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(get_principal)]


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="kizuki"'}


def require(role: Role) -> Callable[[Principal | None], Principal]:
    """A dependency that lets through principals with at least ``role``."""

    def _require(principal: MaybePrincipal) -> Principal:
        if principal is None:
            raise HTTPException(401, "Authentication required.", _challenge())
        if not principal.has_role(role):
            raise HTTPException(403, f"This needs the {role} role.")
        return principal

    return _require


Viewer = Annotated[Principal, Depends(require("viewer"))]
AgentRole = Annotated[Principal, Depends(require("agent"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def page_user(request: Request, db: SessionDep) -> Principal:
    """The logged-in user of a web page; nobody -> redirect to the login form."""
    principal = session_principal(request, db)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


async def page_agent_form(request: Request, user: PageUser) -> Principal:
    """A form post from a logged-in agent (or admin) carrying the right CSRF token."""
    form = await request.form()
    offered = form.get("csrf_token")
    if not csrf_ok(request, offered if isinstance(offered, str) else None):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    if not user.has_role("agent"):
        raise HTTPException(403, "This needs the agent role.")
    return user


PageAgentForm = Annotated[Principal, Depends(page_agent_form)]
