"""Settings sections of anomaly/ (see :mod:`core.settings`)."""

from __future__ import annotations

from pydantic import Field

from core.settings import Section


class DetectSettings(Section):
    checkpoint_every_s: float = Field(default=60.0, gt=0, le=86400)
    peer_retrain_every_s: float = Field(default=6 * 3600.0, gt=0)
