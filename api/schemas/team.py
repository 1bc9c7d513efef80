"""Provisioning bodies: logins, agents and maintenance windows (admin and agent roles)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from api.schemas.common import MAX_ID, NOT_BOOL, BoolIn, IntIn, body, ex

Tag = list[str]  # skills, languages, product lines, teams


def _tags() -> Any:
    return Field(default_factory=list, max_length=50)


USER: dict[str, Any] = {
    "username": "yui",
    "role": "agent",
    "locale": "ja",
    "active": True,
    "agent_id": 2,
    "created_at": "2026-12-05T08:00:00Z",
}
AGENT_IN: dict[str, Any] = {
    "name": "Yui Tanaka",
    "email": "yui@example.com",
    "skills": ["aircon-repair"],
    "languages": ["ja", "en"],
    "product_lines": ["air-conditioning"],
    "tier": 2,
    "capacity": 6,
    "teams": ["tokyo"],
}
WINDOW: dict[str, Any] = {
    "id": 3,
    "device_id": "ac-00001",
    "starts_at": "2026-12-24T00:00:00Z",
    "ends_at": "2026-12-24T04:00:00Z",
    "mode": "suppress",
    "reason": "filter change",
}


class UserPublic(BaseModel):
    model_config = ex(USER)
    username: str
    role: str
    locale: str
    active: bool = Field(description="False: the login is disabled.")
    agent_id: int | None = Field(description="The agent this login acts as, if any.")
    created_at: datetime


class UsersPublic(BaseModel):
    model_config = ex({"data": [USER], "count": 1})
    data: list[UserPublic]
    count: int


class UserCreate(BaseModel):
    model_config = body({"username": "yui", "role": "agent", "agent_id": 2, "locale": "ja"})
    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._@-]+$")
    role: Literal["viewer", "agent", "admin"]
    password: str | None = Field(
        default=None, min_length=12, max_length=200, description="Omit to generate one."
    )
    locale: Literal["en", "ja"] = "en"
    agent_id: Annotated[int, Field(ge=1, le=MAX_ID), NOT_BOOL] | None = None


class UserCreated(UserPublic):
    model_config = ex({**USER, "password": "0_9VOZdXBuJ8_42iBUdFDA"})
    password: str | None = Field(description="The generated password, shown only now.")


class UserUpdate(BaseModel):
    model_config = body({"active": False})
    active: BoolIn | None = None
    role: Literal["viewer", "agent", "admin"] | None = None


class AgentCreate(BaseModel):
    model_config = body(AGENT_IN)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=200, pattern=r"^[^@]+@[^@]+$")
    skills: Tag = _tags()
    languages: Tag = Field(default_factory=lambda: ["en"], min_length=1, max_length=20)
    product_lines: Tag = _tags()
    tier: IntIn = Field(default=1, ge=1, le=3, description="1 first line .. 3 expert.")
    capacity: IntIn = Field(default=5, ge=0, le=1000, description="Open cases the agent can hold.")
    teams: Tag = _tags()


class AgentUpdate(BaseModel):
    model_config = body({"capacity": 8, "active": True})
    active: BoolIn | None = None
    skills: Tag | None = Field(default=None, max_length=50)
    languages: Tag | None = Field(default=None, min_length=1, max_length=20)
    product_lines: Tag | None = Field(default=None, max_length=50)
    tier: Annotated[int, Field(ge=1, le=3), NOT_BOOL] | None = None
    capacity: Annotated[int, Field(ge=0, le=1000), NOT_BOOL] | None = None
    teams: Tag | None = Field(default=None, max_length=50)


class WindowPublic(BaseModel):
    model_config = ex(WINDOW)
    id: int
    device_id: str
    starts_at: datetime
    ends_at: datetime
    mode: str = Field(description="suppress: no case; quiet: a case but no customer notice.")
    reason: str


class WindowsPublic(BaseModel):
    model_config = ex({"data": [WINDOW], "count": 1})
    data: list[WindowPublic]
    count: int


class WindowCreate(BaseModel):
    model_config = body(
        {
            "device_id": "ac-00001",
            "starts_at": "2026-12-24T00:00:00Z",
            "minutes": 240,
            "mode": "suppress",
            "reason": "filter change",
        }
    )
    device_id: str = Field(min_length=1, max_length=64)
    starts_at: AwareDatetime = Field(description="With a UTC offset.")
    minutes: IntIn = Field(ge=1, le=366 * 24 * 60, description="How long the window lasts.")
    mode: Literal["suppress", "quiet"] = "suppress"
    reason: str = Field(default="", max_length=2000)
