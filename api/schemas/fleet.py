"""Devices, their readings and telemetry ranges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas import examples as ex_
from api.schemas.common import ex


class ReadingPublic(BaseModel):
    model_config = ex(ex_.READING)
    device_id: str
    ts: float = Field(description="Epoch seconds of the newest reading.")
    metrics: dict[str, float] = Field(description="The newest value of each metric.")


class DevicePublic(BaseModel):
    model_config = ex(ex_.DEVICE)
    id: str
    model: str
    product_line: str
    customer_id: str | None
    health: Literal["healthy", "degraded", "silent", "unknown"] = Field(
        description="degraded: a case is open; unknown: never heard from; silent: nothing "
        "received for the staleness threshold (1 h by default); else healthy."
    )
    open_cases: int
    latest: ReadingPublic | None = Field(default=None, description="Null if never heard from.")


class DevicesPublic(BaseModel):
    model_config = ex(ex_.listing(ex_.DEVICE))
    data: list[DevicePublic]
    count: int


class TelemetryPublic(BaseModel):
    model_config = ex(ex_.TELEMETRY)
    device_id: str
    metric: str
    unit: str
    start: float
    end: float
    every: float | None = Field(description="Averaging bucket in seconds; null = raw points.")
    points: list[tuple[float, float]] = Field(description="[ts, value] pairs, oldest first.")
