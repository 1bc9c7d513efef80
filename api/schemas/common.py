"""Shared pieces of the API's bodies: problems, probes, example helper, enums."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.examples import PROBLEM

SeverityName = Literal["low", "medium", "high", "critical"]
StatusName = Literal["open", "acknowledged", "in_progress", "resolved", "closed"]
MAX_ID = 2**31 - 1  # case-DB ids are 32-bit integers on PostgreSQL; SQLite overflows at 2**63


def ex(example: dict[str, Any]) -> ConfigDict:
    """Model config reading from ORM rows, with ``example`` in the JSON schema."""
    return ConfigDict(from_attributes=True, json_schema_extra={"examples": [example]})


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ex(PROBLEM)
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For 422: each field that is wrong, as loc and msg."
    )


class Health(BaseModel):
    model_config = ex({"status": "ok"})
    status: Literal["ok"]


class Readiness(BaseModel):
    model_config = ex({"status": "ready", "checks": {"cases_db": True, "telemetry_store": True}})
    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(description="Each backing store and whether it answers.")
