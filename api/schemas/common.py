"""Shared pieces of the API's bodies: problems, probes, example helper, enums."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SeverityName = Literal["low", "medium", "high", "critical"]
StatusName = Literal["open", "acknowledged", "in_progress", "resolved", "closed"]
T0 = "2026-11-20T08:00:00Z"
MAX_ID = 2**31 - 1  # case-DB ids are 32-bit integers on PostgreSQL; SQLite overflows at 2**63


def ex(example: dict[str, Any]) -> ConfigDict:
    """Model config reading from ORM rows, with ``example`` in the JSON schema."""
    return ConfigDict(from_attributes=True, json_schema_extra={"examples": [example]})


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ex(
        {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "This needs the agent role.",
            "instance": "/api/v1/cases/7/resolve",
        }
    )
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]
