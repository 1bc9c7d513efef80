"""One root Settings object, read once at start-up (env prefix ``KIZUKI_``, ``__`` nests).

Every default is embedded: SQLite files under ``./.kizuki/``, an embedded broker, and
notifications written to the log and ``./.kizuki/outbox/``. Example::

    KIZUKI_MQTT__URL=mqtt://127.0.0.1:1883 KIZUKI_API__PORT=8080 kizuki run

Sources, strongest first: environment variables, ``KIZUKI_MQTT_URL`` (shorthand for
``KIZUKI_MQTT__URL``), then a TOML file: ``$KIZUKI_CONFIG`` or ``./kizuki.toml`` when it
exists, with the same names in sections (``[mqtt]`` ``url = "mqtt://..."``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEV_SECRET = "kizuki-dev-secret-change-me"


class MqttSettings(BaseModel):
    url: str | None = Field(
        default=None,
        description="mqtt://[user:pass@]host:port of an existing broker; unset = start one.",
    )
    client_id: str = "kizuki-engine"
    topic: str = "devices/+/telemetry"
    status_topic: str = "devices/+/status"
    qos: Literal[0, 1, 2] = 1
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT protocol version; the embedded amqtt broker speaks 3.1.1 only.",
    )
    keepalive: int = 30
    max_inflight: int = 1000
    session_expiry_s: int = Field(
        default=7 * 86400,
        ge=0,
        le=2**32 - 1,
        description="How long the broker keeps our session and its unacked backlog while "
        "the engine is away (MQTT 5 Session Expiry; Mosquitto caps it with "
        "persistent_client_expiration, 7d in deploy/mosquitto).",
    )

    @field_validator("url")
    @classmethod
    def _url_is_mqtt(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            raise ValueError(f"expected mqtt://host:port, got {value!r}")
        try:
            parts.port  # noqa: B018 - raises on a non-numeric port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value


class StoreSettings(BaseModel):
    backend: Literal["sqlite", "influxdb"] = "sqlite"
    sqlite_path: Path | None = Field(default=None, description="Default: <data_dir>/telemetry.db")
    influx_url: str = "http://127.0.0.1:8086"
    influx_token: SecretStr = SecretStr("")
    influx_org: str = "kizuki"
    influx_bucket: str = "telemetry"
    influx_query_url: str | None = Field(
        default=None, description="Base URL of the InfluxQL /query endpoint; default influx_url."
    )
    influx_database: str | None = Field(
        default=None, description="InfluxQL database (DBRP-mapped to the bucket); default bucket."
    )
    influx_write_api: Literal["v2", "v1"] = Field(
        default="v2",
        description="'v2' writes to /api/v2/write (InfluxDB 2, 3, 1.8+); "
        "'v1' to /write?db=influx_database (InfluxDB 1.x before 1.8).",
    )
    batch_size: int = 5000
    flush_interval_s: float = 0.2


class IngestSettings(BaseModel):
    max_payload_bytes: int = 256 * 1024
    max_future_skew_s: float = 300.0
    max_past_skew_s: float = 400 * 86400.0
    queue_size: int = 20000
    receiver: Literal["process", "thread"] = Field(
        default="process",
        description="Where paho's client runs: 'process', a child process, so MQTT receive "
        "and decoding, commits and detection use two cores (see ingest/receiver.py); "
        "'thread', a thread of the engine's process.",
    )
    batch_linger_s: float = Field(
        default=0.05,
        ge=0,
        description="After an idle spell, wait this long for more messages before a batch "
        "(a trickle becomes one commit and one detector pass instead of many).",
    )


class DetectSettings(BaseModel):
    checkpoint_every_s: float = 60.0
    peer_retrain_every_s: float = 6 * 3600.0


class CaseSettings(BaseModel):
    db_url: str | None = Field(default=None, description="Default: sqlite:///<data_dir>/cases.db")
    auto_resolve_after_s: float = 6 * 3600.0
    default_sla_hours: dict[str, float] = {"critical": 4, "high": 24, "medium": 72, "low": 168}
    reroute_every_s: float = Field(
        default=60.0, ge=0, description="How often unassigned cases are offered to agents again."
    )


class NotifySettings(BaseModel):
    mode: Literal["log", "apprise"] = Field(
        default="log",
        description="'log' writes notifications to the log and outbox_dir (demo); "
        "'apprise' delivers them to each contact point's URL.",
    )
    outbox_dir: Path | None = Field(default=None, description="Default: <data_dir>/outbox")
    max_attempts: int = Field(
        default=5, ge=1, description="Tries per contact point before the next one takes over."
    )
    backoff_s: float = Field(default=2.0, gt=0, description="First retry wait; doubles after.")
    max_backoff_s: float = Field(default=3600.0, gt=0, description="Cap of the retry wait.")
    give_up_after_s: float = Field(
        default=48 * 3600.0,
        gt=0,
        description="Retry budget from the first attempt, going round the contact points "
        "again and again; after it the notification is marked failed.",
    )
    poll_interval_s: float = 0.5
    public_base_url: str = "http://127.0.0.1:8000"
    allow_log_in_production: bool = Field(
        default=False,
        description="Let environment=production run with mode='log' (nothing is delivered).",
    )

    def refuse_in_production(self) -> None:
        """Raise ValueError if production would write notices to files, not deliver them."""
        if self.mode == "log" and not self.allow_log_in_production:
            raise ValueError(
                "notify.mode is 'log' in production, so customers would get nothing: set "
                "KIZUKI_NOTIFY__MODE=apprise (or KIZUKI_NOTIFY__ALLOW_LOG_IN_PRODUCTION=true "
                "to keep writing notices to files)"
            )


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    admin_api_key: SecretStr | None = Field(
        default=None, description="Bootstrap admin key; created hashed at start-up if set."
    )
    stale_after_s: float = Field(
        default=3600.0, gt=0, description="A device silent this long shows as 'silent'."
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KIZUKI_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".kizuki")
    log_level: str = "INFO"
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    detect: DetectSettings = DetectSettings()
    cases: CaseSettings = CaseSettings()
    notify: NotifySettings = NotifySettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, _Shorthands(settings_cls)]
        toml = config_file()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @model_validator(mode="after")
    def _production_checks(self) -> Settings:
        if self.environment == "production":
            if self.api.secret_key.get_secret_value() in (DEV_SECRET, ""):
                raise ValueError(
                    "set KIZUKI_API__SECRET_KEY: the default secret is for development"
                )
            self.notify.refuse_in_production()
        return self

    @property
    def telemetry_path(self) -> Path:
        return self.store.sqlite_path or self.data_dir / "telemetry.db"

    @property
    def cases_url(self) -> str:
        return self.cases.db_url or f"sqlite:///{self.data_dir / 'cases.db'}"

    @property
    def outbox_dir(self) -> Path:
        return self.notify.outbox_dir or self.data_dir / "outbox"

    @property
    def deadletter_path(self) -> Path:
        return self.data_dir / "deadletters.db"

    @property
    def checkpoint_path(self) -> Path:
        return self.data_dir / "detectors.ckpt"


class ConfigFileError(ValueError):
    """``KIZUKI_CONFIG`` names a file that does not exist."""


def config_file() -> Path | None:
    """The TOML settings file: ``$KIZUKI_CONFIG`` (must exist) or ``./kizuki.toml`` if any."""
    named = os.environ.get("KIZUKI_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigFileError(f"KIZUKI_CONFIG: no such file {named!r}")
        return path
    default = Path("kizuki.toml")
    return default if default.is_file() else None


class _Shorthands(PydanticBaseSettingsSource):
    """``KIZUKI_MQTT_URL`` means ``KIZUKI_MQTT__URL`` (the nested name wins if both are set)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        url = os.environ.get("KIZUKI_MQTT_URL")
        return {"mqtt": {"url": url}} if url else {}
