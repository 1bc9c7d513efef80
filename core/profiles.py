"""Device profiles: one YAML per product model (metrics, limits, failure modes).

The simulator, the detectors, the case rules and the knowledge base all read the same
profile, so a failure mode means the same thing everywhere.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.events import Severity

PROFILE_DIR = Path(__file__).with_name("profiles")


class MetricSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    unit: str
    title: dict[str, str] = Field(
        default_factory=dict, description="What people call it, per language {en, ja}."
    )
    normal: tuple[float, float] = Field(description="Typical healthy range (low, high).")
    limit: float = Field(description="Value at which the customer notices a problem.")
    direction: Literal["up", "down"] = Field(
        description="'up' if failure pushes the metric above the limit, 'down' if below."
    )
    daily_amplitude: float = 0.0
    noise: float = 0.0
    valid: tuple[float, float] | None = Field(
        default=None, description="Physically possible range; values outside are refused."
    )

    @model_validator(mode="after")
    def _limit_outside_normal(self) -> MetricSpec:
        lo, hi = self.normal
        if lo > hi:
            raise ValueError(f"normal range {self.normal} is reversed")
        if self.direction == "up" and self.limit <= hi:
            raise ValueError(f"limit {self.limit} must lie above the normal range {self.normal}")
        if self.direction == "down" and self.limit >= lo:
            raise ValueError(f"limit {self.limit} must lie below the normal range {self.normal}")
        return self

    def breached(self, value: float) -> bool:
        return value >= self.limit if self.direction == "up" else value <= self.limit


class FailureModeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    title: dict[str, str]
    metric: str = Field(description="The metric whose crossing of its limit the customer notices.")
    effects: dict[str, float] = Field(
        default_factory=dict,
        description="Per metric, the change at full failure as a fraction of the "
        "distance from the normal midpoint to the limit (signed by the metric direction).",
    )
    kind: Literal["gradual", "intermittent", "sudden", "sensor"] = "gradual"
    kb_article: str
    skill: str
    severity: Severity = "medium"


class DeviceProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    product_line: str
    title: dict[str, str]
    metrics: dict[str, MetricSpec]
    failure_modes: dict[str, FailureModeSpec]

    @model_validator(mode="after")
    def _modes_name_known_metrics(self) -> DeviceProfile:
        for name, mode in self.failure_modes.items():
            unknown = ({mode.metric} | set(mode.effects)) - set(self.metrics)
            if unknown:
                raise ValueError(f"failure mode {name!r} names unknown metrics {sorted(unknown)}")
        return self

    def modes_for_metric(self, metric: str) -> list[str]:
        """Failure modes that move ``metric``, the ones it is primary for first."""
        primary = [n for n, m in self.failure_modes.items() if m.metric == metric]
        secondary = [
            n for n, m in self.failure_modes.items() if metric in m.effects and n not in primary
        ]
        return primary + secondary


class ProfileError(ValueError):
    """A profile file that cannot be read or does not validate."""


def load_profile(path: Path) -> DeviceProfile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DeviceProfile.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        raise ProfileError(f"device profile {path}: {exc}") from exc


def load_profiles(directory: Path | None = None) -> dict[str, DeviceProfile]:
    """All profiles in ``directory`` (default: the ones shipped), keyed by model."""
    if directory is None:
        return dict(_shipped_profiles())
    return _load_dir(directory)


@cache
def _shipped_profiles() -> tuple[tuple[str, DeviceProfile], ...]:
    return tuple(_load_dir(PROFILE_DIR).items())


def _load_dir(directory: Path) -> dict[str, DeviceProfile]:
    profiles = {}
    for path in sorted(directory.glob("*.yaml")):
        profile = load_profile(path)
        profiles[profile.model] = profile
    if not profiles:
        raise ProfileError(f"no device profiles (*.yaml) in {directory}")
    return profiles


def metric_title(profile: DeviceProfile | None, metric: str, locale: str) -> str:
    """The metric's name for people in ``locale`` (English, then its id, as fallback)."""
    spec = profile.metrics.get(metric) if profile else None
    if spec is None or not spec.title:
        return metric
    return spec.title.get(locale) or spec.title.get("en") or metric
