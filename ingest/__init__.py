"""MQTT telemetry in: decode, validate, dead-letter, store."""

from core.readings import DeadLetter, Reading
from ingest.base import TelemetryStore

__all__ = ["DeadLetter", "Reading", "TelemetryStore"]
