"""Settings sections of anomaly/ (see :mod:`core.settings`)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class DetectSettings(Section):
    checkpoint_every_s: float = Field(default=60.0, gt=0, le=86400)
    peer_retrain_every_s: float = Field(default=6 * 3600.0, gt=0)
    lateness_s: float = Field(
        default=300.0,
        ge=0,
        description="Telemetry seconds a reading is held so late ones are put in time order "
        "before detection; older ones (and duplicates) are skipped and counted.",
    )
    idle_flush_s: float = Field(
        default=60.0,
        gt=0,
        description="Server seconds after a device's last message when its held readings "
        "go to detection anyway.",
    )
    update_every_s: float = Field(
        default=3600.0,
        gt=0,
        description="Telemetry seconds between re-assessments of an open anomaly (the case's "
        "severity, ETA and explanation follow them).",
    )
