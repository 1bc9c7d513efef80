"""The admin page: logins, agents, API keys and maintenance windows, with forms.

Every form posts with the session's CSRF token and needs the admin role; a generated
password or a new API key is shown once, on the page the form leads to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from api.auth import ROLES, Principal, create_api_key, create_user, new_password, revoke_api_key
from api.deps import CtxDep, PageUser, SessionDep, csrf_ok
from api.templating import render, zone_of
from tickets.models import Agent, ApiKey, User
from tickets.registry import RegistryError, schedule_maintenance
from tickets.team import (
    AgentChange,
    AgentError,
    AgentSpec,
    add_agent,
    cancel_maintenance,
    change_agent,
    list_maintenance,
)

router = APIRouter(include_in_schema=False)
RoleIn = Literal["viewer", "agent", "admin"]
Short = Annotated[str, Form(max_length=200)]
BACK = "/admin"


def page_admin(user: PageUser) -> Principal:
    if not user.has_role("admin"):
        raise HTTPException(403, "This needs the admin role.")
    return user


async def admin_form(request: Request, user: PageUser) -> Principal:
    """A form post from a logged-in admin carrying the right CSRF token."""
    form = await request.form()
    offered = form.get("csrf_token")
    if not csrf_ok(request, offered if isinstance(offered, str) else None):
        raise HTTPException(403, "The form has expired; reload the page and try again.")
    return page_admin(user)


PageAdmin = Annotated[Principal, Depends(page_admin)]
AdminForm = Annotated[Principal, Depends(admin_form)]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, user: PageAdmin, ctx: CtxDep, db: SessionDep) -> Response:
    return _page(request, user, ctx, db)


def _page(
    request: Request, user: Principal, ctx: CtxDep, db: SessionDep, **secret: str
) -> Response:
    return render(
        request,
        "admin.html",
        user,
        nav="admin",
        roles=ROLES,
        users=db.scalars(select(User).order_by(User.username)).all(),
        agents=db.scalars(select(Agent).order_by(Agent.id)).all(),
        keys=db.scalars(select(ApiKey).order_by(ApiKey.id)).all(),
        windows=list_maintenance(ctx.session_factory, after=ctx.now()),
        secret=secret,
    )


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    user: AdminForm,
    ctx: CtxDep,
    db: SessionDep,
    username: Annotated[str, Form(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._@-]+$")],
    role: Annotated[RoleIn, Form()],
) -> Response:
    """A new login (or a reset one) with a generated password, shown on the page once."""
    password = new_password()
    create_user(ctx.session_factory, username, password, role)
    return _page(request, user, ctx, db, title=username, password=password)


@router.post("/admin/users/{username}/active")
def set_user_active(
    _: AdminForm,
    db: SessionDep,
    username: Annotated[str, Path(max_length=80)],
    active: Annotated[bool, Form()],
) -> Response:
    row = db.scalar(select(User).where(User.username == username))
    if row is None:
        raise HTTPException(404, f"No user {username!r}.")
    row.active = active
    db.commit()
    return RedirectResponse(BACK, status_code=303)


@router.post("/admin/agents")
def add_agent_form(
    _: AdminForm,
    ctx: CtxDep,
    name: Short,
    email: Short,
    skills: Short = "",
    languages: Short = "en",
    product_lines: Short = "",
    teams: Short = "",
    tier: Annotated[int, Form(ge=1, le=3)] = 1,
    capacity: Annotated[int, Form(ge=0, le=1000)] = 5,
) -> Response:
    spec = AgentSpec(
        name,
        email,
        _split(skills),
        _split(languages) or ["en"],
        _split(product_lines),
        capacity,
        tier,
        _split(teams),
    )
    try:
        add_agent(ctx.session_factory, spec)
    except AgentError as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse(BACK, status_code=303)


@router.post("/admin/agents/{agent_id}/active")
def set_agent_active(
    _: AdminForm,
    ctx: CtxDep,
    agent_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    active: Annotated[bool, Form()],
) -> Response:
    try:
        change_agent(ctx.session_factory, agent_id, AgentChange(active=active))
    except AgentError as exc:
        raise HTTPException(404, str(exc)) from None
    return RedirectResponse(BACK, status_code=303)


@router.post("/admin/keys", response_class=HTMLResponse)
def add_key(
    request: Request,
    user: AdminForm,
    ctx: CtxDep,
    db: SessionDep,
    name: Annotated[str, Form(min_length=1, max_length=80)],
    role: Annotated[RoleIn, Form()],
) -> Response:
    key = create_api_key(ctx.session_factory, name, role)
    return _page(request, user, ctx, db, title=name, key=key)


@router.post("/admin/keys/{prefix}/revoke")
def revoke_key(_: AdminForm, ctx: CtxDep, prefix: Annotated[str, Path(max_length=16)]) -> Response:
    if not revoke_api_key(ctx.session_factory, prefix):
        raise HTTPException(404, f"No API key with prefix {prefix!r}.")
    return RedirectResponse(BACK, status_code=303)


@router.post("/admin/maintenance")
def add_window(
    who: AdminForm,
    ctx: CtxDep,
    device_id: Annotated[str, Form(min_length=1, max_length=64)],
    starts_at: Annotated[str, Form(max_length=40)],
    minutes: Annotated[int, Form(ge=1, le=366 * 24 * 60)],
    mode: Annotated[Literal["suppress", "quiet"], Form()] = "suppress",
    reason: Short = "",
) -> Response:
    try:
        start = datetime.fromisoformat(starts_at)
    except ValueError:
        raise HTTPException(422, f"{starts_at!r} is not a date and time.") from None
    start = start if start.tzinfo else start.replace(tzinfo=zone_of(who.timezone))  # theirs
    try:
        schedule_maintenance(
            ctx.session_factory, device_id, start, start + timedelta(minutes=minutes), mode, reason
        )
    except RegistryError as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse(BACK, status_code=303)


@router.post("/admin/maintenance/{window_id}/cancel")
def cancel_window(
    _: AdminForm, ctx: CtxDep, window_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> Response:
    if not cancel_maintenance(ctx.session_factory, window_id):
        raise HTTPException(404, f"No maintenance window {window_id}.")
    return RedirectResponse(BACK, status_code=303)
