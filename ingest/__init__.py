"""MQTT telemetry in: decode, validate, dead-letter, store."""

from ingest.base import DeadLetter, Reading, TelemetryStore

__all__ = ["DeadLetter", "Reading", "TelemetryStore"]
