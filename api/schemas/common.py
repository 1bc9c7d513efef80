"""Shared pieces of the API's bodies: problems, probes, example helper, enums."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from api.schemas.examples import PROBLEM
from core.cases import CaseStatus
from core.events import Severity
from tickets.resolution import AgentResolution, ResolutionCode

SeverityName = Severity
StatusName = CaseStatus
ResolutionName = ResolutionCode
AgentResolutionName = AgentResolution
ReviewName = Literal["customer_disagrees"]
MAX_ID = 2**31 - 1  # case-DB ids are 32-bit integers on PostgreSQL; SQLite overflows at 2**63


def body(example: dict[str, Any]) -> ConfigDict:
    """Model config of a request body: unknown keys are refused."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


def _not_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("expected an integer, not true/false")
    return value


NOT_BOOL = BeforeValidator(_not_bool)
IntIn = Annotated[int, NOT_BOOL]
"""An integer in a request body (an id, a count, minutes): JSON ``true`` is not ``1``.
Optional, its bounds go before ``NOT_BOOL`` (``Annotated[int, Field(ge=1), NOT_BOOL] |
None``): after it, pydantic writes them into the JSON schema as ``ge``/``le``, which no
client reads as ``minimum``/``maximum``."""
BoolIn = StrictBool
"""A true/false in a request body: JSON ``true`` or ``false``, not ``0``, ``1`` or
``"true"`` (which pydantic's lax mode would take, against the OpenAPI schema)."""


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
