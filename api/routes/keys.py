"""API keys (admins only): list, create (the key is shown once) and revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from sqlalchemy import select

from api.auth import create_api_key, revoke_api_key
from api.deps import Admin, CtxDep, SessionDep
from api.openapi import AUTH_ERRORS, problem_responses
from api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic
from tickets.models import ApiKey

router = APIRouter(prefix="/api-keys", tags=["api keys"], responses=AUTH_ERRORS)


@router.get("", response_model=ApiKeysPublic, summary="List API keys (never the keys)")
def read_keys(_: Admin, db: SessionDep) -> ApiKeysPublic:
    """Every API key with its role, prefix and last use; the keys themselves are stored
    hashed and never shown again."""
    rows = db.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return ApiKeysPublic(data=[ApiKeyPublic.model_validate(r) for r in rows], count=len(rows))


@router.post("", response_model=ApiKeyCreated, status_code=201, summary="Create an API key")
def create_key(_: Admin, ctx: CtxDep, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key with a role; the response carries the key, shown only this once."""
    key = create_api_key(ctx.session_factory, body.name, body.role)
    return ApiKeyCreated(name=body.name, role=body.role, key=key)


@router.delete(
    "/{prefix}", status_code=204, summary="Revoke an API key", responses=problem_responses(404)
)
def revoke_key(
    _: Admin, ctx: CtxDep, prefix: Annotated[str, Path(min_length=1, max_length=16)]
) -> None:
    """Revoke the key with this prefix; it answers 401 from then on."""
    if not revoke_api_key(ctx.session_factory, prefix):
        raise HTTPException(404, f"No API key with prefix {prefix!r}.")
