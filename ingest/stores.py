"""Open the telemetry and dead-letter stores the settings ask for."""

from __future__ import annotations

from ingest.base import DeadLetterStore, TelemetryStore
from kizuki.config import Settings


def open_store(settings: Settings) -> TelemetryStore:
    """``SqliteStore`` (default) or ``InfluxStore`` per ``settings.store.backend``."""
    cfg = settings.store
    if cfg.backend == "influxdb":
        from ingest.influx_store import InfluxStore

        return InfluxStore(
            cfg.influx_url,
            cfg.influx_token.get_secret_value(),
            cfg.influx_org,
            cfg.influx_bucket,
            query_url=cfg.influx_query_url,
            database=cfg.influx_database,
            write_api=cfg.influx_write_api,
        )
    from ingest.embedded_store import SqliteStore

    return SqliteStore(settings.telemetry_path)


def open_deadletters(settings: Settings) -> DeadLetterStore:
    """Dead letters live in SQLite next to the other local state, whatever the backend."""
    from ingest.deadletters import SqliteDeadLetters

    return SqliteDeadLetters(settings.deadletter_path)
