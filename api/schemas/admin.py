"""Knowledge-base articles, dead letters and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import ex


class KbArticlePublic(BaseModel):
    model_config = ex(
        {
            "id": "ac-filter-clog",
            "locale": "en",
            "title": "The air filter is clogging",
            "summary": "...",
            "action": "...",
            "steps": ["..."],
            "call_us": "...",
            "failure_modes": ["aircon-x1/filter_clog"],
        }
    )
    id: str
    locale: str
    title: str
    summary: str
    action: str
    steps: list[str]
    call_us: str
    failure_modes: list[str] = Field(description="model/failure_mode pairs this article answers.")


class KbArticlesPublic(BaseModel):
    data: list[KbArticlePublic]
    count: int


class DeadLetterPublic(BaseModel):
    model_config = ex(
        {
            "id": 12,
            "topic": "devices/ac-00001/telemetry",
            "reason": "bad_json",
            "detail": "Expecting value: line 1 column 1",
            "received_at": 1795680000.0,
            "payload": "{not json",
            "payload_bytes": 9,
        }
    )
    id: int | None
    topic: str
    reason: str
    detail: str
    received_at: float
    payload: str = Field(
        description="The raw payload as UTF-8 (undecodable bytes replaced), cut at 4 KiB."
    )
    payload_bytes: int


class DeadLettersPublic(BaseModel):
    data: list[DeadLetterPublic]
    count: int
    next_cursor: int | None = Field(description="Pass as ?before_id= for older letters.")
    counts: dict[str, int] = Field(description="Dead letters kept, per reason.")


class ApiKeyCreate(BaseModel):
    model_config = ex({"name": "grafana", "role": "viewer"})
    name: str = Field(min_length=1, max_length=80)
    role: Literal["viewer", "agent", "admin"]


class ApiKeyPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class ApiKeyCreated(BaseModel):
    name: str
    role: str
    key: str = Field(description="The key itself; shown only once.")
