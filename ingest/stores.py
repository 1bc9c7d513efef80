"""Open the telemetry and dead-letter stores the settings ask for."""

from __future__ import annotations

from pathlib import Path

from ingest.base import DeadLetterStore, TelemetryStore
from ingest.settings import StoreSettings


def open_store(cfg: StoreSettings, sqlite_path: Path) -> TelemetryStore:
    """``SqliteStore`` at ``sqlite_path`` (default) or ``InfluxStore`` per ``cfg.backend``."""
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

    return SqliteStore(sqlite_path)


def open_deadletters(path: Path) -> DeadLetterStore:
    """Dead letters live in SQLite next to the other local state, whatever the backend."""
    from ingest.deadletters import SqliteDeadLetters

    return SqliteDeadLetters(path)
