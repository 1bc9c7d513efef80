"""Web logins (admins only): list, add (a generated password is shown once), disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select

from api.auth import create_user, list_users, new_password
from api.deps import Admin, CtxDep, SessionDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas.team import UserCreate, UserCreated, UserPublic, UsersPublic, UserUpdate
from tickets.models import Agent, User

router = APIRouter(prefix="/users", tags=["users"], responses=AUTH_ERRORS)
Username = Annotated[str, Path(min_length=1, max_length=80)]


@router.get("", response_model=UsersPublic, summary="List web logins")
def read_users(_: Admin, ctx: CtxDep) -> UsersPublic:
    """Every login with role, language, linked agent and whether it may log in (password
    hashes are never shown)."""
    rows = list_users(ctx.session_factory)
    return UsersPublic(data=[UserPublic.model_validate(r) for r in rows], count=len(rows))


@router.post(
    "",
    response_model=UserCreated,
    status_code=201,
    summary="Add a login (or reset one)",
    responses=problem_responses(404, 422),
)
def add_user(_: Admin, ctx: CtxDep, body: UserCreate, db: SessionDep) -> UserCreated:
    """Add a login; without ``password`` a random one is generated and returned, only in
    this response. An existing username gets the new password, role and agent."""
    if body.agent_id is not None and db.get(Agent, body.agent_id) is None:
        raise HTTPException(404, f"No agent {body.agent_id}.")
    generated = new_password() if body.password is None else None
    password = body.password or str(generated)
    create_user(ctx.session_factory, body.username, password, body.role, body.locale, body.agent_id)
    user = db.scalar(select(User).where(User.username == body.username))
    db.refresh(user)
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=generated)


@router.patch(
    "/{username}",
    response_model=UserPublic,
    summary="Disable, enable or change the role of a login",
    responses=problem_responses(404),
)
def update_user(_: Admin, db: SessionDep, username: Username, body: UserUpdate) -> UserPublic:
    """``active: false`` ends the login's sessions and refuses it from now on."""
    user = db.scalar(select(User).where(User.username == username))
    if user is None:
        raise HTTPException(404, f"No user {username!r}.")
    if body.active is not None:
        user.active = body.active
    if body.role is not None:
        user.role = body.role
    db.commit()
    return UserPublic.model_validate(user)
