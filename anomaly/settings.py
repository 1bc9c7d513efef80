"""Settings sections of anomaly/ (see :mod:`core.settings`)."""

from __future__ import annotations

from core.settings import Section


class DetectSettings(Section):
    checkpoint_every_s: float = 60.0
    peer_retrain_every_s: float = 6 * 3600.0
