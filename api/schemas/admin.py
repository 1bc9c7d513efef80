"""Knowledge-base articles, dead letters and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import examples as ex_
from api.schemas.common import body, ex


class KbArticlePublic(BaseModel):
    model_config = ex(ex_.KB_ARTICLE)
    id: str
    locale: str
    title: str
    summary: str
    action: str
    steps: list[str]
    call_us: str
    failure_modes: list[str] = Field(description="model/failure_mode pairs this article answers.")


class KbArticlesPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.KB_ARTICLE))
    data: list[KbArticlePublic]
    count: int


class DeadLetterPublic(BaseModel):
    model_config = ex(ex_.DEAD_LETTER)
    id: int | None
    topic: str
    reason: str
    detail: str
    received_at: float = Field(description="Epoch seconds.")
    payload: str = Field(
        description="The raw payload as UTF-8 (undecodable bytes replaced), cut at 4 KiB."
    )
    payload_bytes: int = Field(description="Size of the whole raw payload.")
    payload_base64: str = Field(
        description="The kept payload (the first 4 KiB at most), base64 (lossless: binary "
        "payloads included)."
    )
    truncated: bool = Field(
        default=False, description="True if the message was larger than what is kept."
    )
    sha256: str | None = Field(
        default=None, description="SHA-256 of the whole raw payload (hex), when known."
    )


class DeadLettersPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.DEAD_LETTER, next_cursor=12, counts={"bad_json": 1}))
    data: list[DeadLetterPublic]
    count: int
    next_cursor: int | None = Field(description="Pass as ?before_id= for older letters.")
    counts: dict[str, int] = Field(description="Dead letters kept, per reason.")


class ApiKeyCreate(BaseModel):
    model_config = body({"name": "grafana", "role": "viewer"})
    name: str = Field(min_length=1, max_length=80)
    role: Literal["viewer", "agent", "admin"]


class ApiKeyPublic(BaseModel):
    model_config = ex(ex_.API_KEY)
    id: int
    name: str
    prefix: str = Field(description="The key's public part; DELETE /api-keys/{prefix} revokes.")
    role: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Updated at most once a minute.")
    revoked_at: datetime | None


class ApiKeysPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.API_KEY))
    data: list[ApiKeyPublic]
    count: int


class ApiKeyCreated(BaseModel):
    model_config = ex(ex_.API_KEY_CREATED)
    name: str
    role: str
    key: str = Field(description="The key itself; shown only once.")
