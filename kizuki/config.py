"""One root Settings object, read once at start-up (env prefix ``KIZUKI_``, ``__`` nests).

Every default is embedded: SQLite files under ``./.kizuki/``, an embedded broker, and
notifications written to the log and ``./.kizuki/outbox/``. Example::

    KIZUKI_MQTT__URL=mqtt://127.0.0.1:1883 KIZUKI_API__PORT=8080 kizuki run

Sources, strongest first: environment variables, ``KIZUKI_MQTT_URL`` (shorthand for
``KIZUKI_MQTT__URL``), then a TOML file: ``$KIZUKI_CONFIG`` or ``./kizuki.toml`` when it
exists, with the same names in sections (``[mqtt]`` ``url = "mqtt://..."``).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from anomaly.settings import DetectSettings
from api.settings import ApiSettings, check_secret
from ingest.settings import IngestSettings, MqttSettings, NatsSettings, StoreSettings
from kizuki.scale import WorkerSettings
from tickets.settings import (
    CaseSettings,
    InboundSettings,
    IntegrationSettings,
    NotifySettings,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KIZUKI_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".kizuki")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="'text': one line per record; 'json': one object per line."
    )
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    detect: DetectSettings = DetectSettings()
    cases: CaseSettings = CaseSettings()
    notify: NotifySettings = NotifySettings()
    inbound: InboundSettings = InboundSettings()
    integrations: IntegrationSettings = IntegrationSettings()
    api: ApiSettings = ApiSettings()
    nats: NatsSettings = NatsSettings()
    worker: WorkerSettings = WorkerSettings()

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
            refuse_unknown_keys(toml)
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @model_validator(mode="after")
    def _production_checks(self) -> Settings:
        if self.environment == "production":
            check_secret(self.api.secret_key.get_secret_value())
            self.notify.refuse_in_production()
            self.notify.refuse_loopback_links()
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def feedback_secret(self) -> SecretStr:
        """Feedback links are signed with the API's secret."""
        return self.api.secret_key

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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigFileError(ValueError):
    """The settings file is missing (``KIZUKI_CONFIG``), unreadable or names unknown keys."""


def refuse_unknown_keys(path: Path) -> None:
    """``ConfigFileError`` naming the first key of ``path`` that is no setting (a typo)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigFileError(f"cannot read settings file {path}: {exc}") from None
    unknown = _unknown_keys(Settings, data)
    if unknown:
        name, known = unknown[0]
        close = difflib.get_close_matches(name.rsplit(".", 1)[-1], known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        raise ConfigFileError(f"{path}: unknown setting {name!r}{hint}")


def _unknown_keys(
    model: type[BaseModel], data: Mapping[str, Any], where: str = ""
) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for key, value in data.items():
        name = f"{where}.{key}" if where else key
        field = model.model_fields.get(key)
        if field is None:
            found.append((name, sorted(model.model_fields)))
            continue
        section = field.annotation
        nested = isinstance(section, type) and issubclass(section, BaseModel)
        if nested and isinstance(value, Mapping):
            found += _unknown_keys(section, value, name)  # type: ignore[arg-type]
    return found


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
