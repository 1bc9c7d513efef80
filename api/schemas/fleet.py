"""Devices, their readings and telemetry ranges."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import ex


class ReadingPublic(BaseModel):
    model_config = ex(
        {
            "device_id": "ac-00001",
            "ts": 1795680000.0,
            "metrics": {"filter_dp_pa": 88.5, "fan_rpm": 1190.0},
        }
    )
    device_id: str
    ts: float
    metrics: dict[str, float]


class DevicePublic(BaseModel):
    model_config = ex(
        {
            "id": "ac-00001",
            "model": "aircon-x1",
            "product_line": "air-conditioning",
            "customer_id": "c-0001",
            "health": "degraded",
            "open_cases": 1,
            "latest": None,
        }
    )
    id: str
    model: str
    product_line: str
    customer_id: str | None
    health: Literal["healthy", "degraded", "unknown"]
    open_cases: int
    latest: ReadingPublic | None = None


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


class TelemetryPublic(BaseModel):
    model_config = ex(
        {
            "device_id": "ac-00001",
            "metric": "filter_dp_pa",
            "unit": "Pa",
            "start": 1795600000.0,
            "end": 1795680000.0,
            "every": 3600.0,
            "points": [[1795600000.0, 61.2], [1795603600.0, 62.0]],
        }
    )
    device_id: str
    metric: str
    unit: str
    start: float
    end: float
    every: float | None = Field(description="Averaging bucket in seconds; null = raw points.")
    points: list[tuple[float, float]] = Field(description="[ts, value] pairs, oldest first.")
