"""Settings sections of ingest/ (see :mod:`core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, field_validator, model_validator

from core.mqtt_url import parse_broker_url
from core.settings import Section


class MqttSettings(Section):
    url: str | None = Field(
        default=None,
        description="mqtt://[user:pass@]host:port of an existing broker; unset = start one.",
    )
    client_id: str = Field(
        default="kizuki-engine",
        description="MQTT client id, a template: {worker} is the worker's name "
        "(KIZUKI_WORKER__NAME, default the host name) so replicas never take each other's "
        "session and each keeps its own across restarts, e.g. kizuki-{worker}.",
    )
    topic: str = Field(
        default="devices/+/telemetry",
        description="Subscription filter with one '+' level, the device id; a shared "
        "subscription ($share/GROUP/devices/+/telemetry) spreads devices over workers.",
    )
    status_topic: str = "devices/+/status"
    qos: Literal[0, 1, 2] = 1
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT protocol version; the embedded amqtt broker speaks 3.1.1 only.",
    )
    keepalive: int = Field(default=30, ge=5, le=65535, description="Seconds between pings.")
    max_inflight: int = Field(default=1000, ge=1, le=65535)
    session_expiry_s: int = Field(
        default=7 * 86400,
        ge=0,
        le=2**32 - 1,
        description="How long the broker keeps our session and its unacked backlog while "
        "the engine is away (MQTT 5 Session Expiry; Mosquitto caps it with "
        "persistent_client_expiration, 7d in deploy/mosquitto).",
    )

    tls_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the broker's certificate (mqtts://); "
        "default: the system CAs.",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for brokers that require one."
    )
    tls_key_file: Path | None = Field(default=None, description="Private key of tls_cert_file.")
    tls_verify_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host in the URL "
        "(turn off only for a broker reached by an address its certificate lacks).",
    )

    def for_worker(self, worker: str) -> MqttSettings:
        """These settings with ``{worker}`` in ``client_id`` replaced by ``worker``."""
        try:
            client_id = self.client_id.format(worker=worker)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"KIZUKI_MQTT__CLIENT_ID {self.client_id!r}: only {{worker}} may be "
                f"filled in ({type(exc).__name__}: {exc})"
            ) from None
        return self.model_copy(update={"client_id": client_id})

    @field_validator("client_id")
    @classmethod
    def _template_fills(cls, value: str) -> str:
        cls.model_construct(client_id=value).for_worker("w")  # raises ValueError if not
        return value

    @field_validator("url")
    @classmethod
    def _url_is_mqtt(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parse_broker_url(value)  # raises ValueError saying what is wrong
        return value

    @field_validator("tls_ca_file", "tls_cert_file", "tls_key_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file {str(value)!r}")
        return value

    @model_validator(mode="after")
    def _tls_consistent(self) -> MqttSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both mqtt.tls_cert_file and mqtt.tls_key_file, or neither")
        uses_tls = self.tls_ca_file or self.tls_cert_file
        if uses_tls and self.url is not None and not parse_broker_url(self.url).tls:
            raise ValueError("TLS files are set but the broker URL is not mqtts://")
        return self


class StoreSettings(Section):
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

    @model_validator(mode="after")
    def _retention_after_downsampling(self) -> StoreSettings:
        raw, keep = self.downsample_after_days, self.retention_days
        if raw is not None and keep is not None and keep <= raw:
            raise ValueError("store.retention_days must be longer than downsample_after_days")
        return self

    batch_size: int = Field(
        default=5000, ge=1, le=100_000, description="Most messages committed in one batch."
    )
    flush_interval_s: float = Field(
        default=0.2, gt=0, le=60, description="Longest wait for the first message of a batch."
    )
    downsample_after_days: float | None = Field(
        default=30.0,
        gt=0,
        description="SQLite: points older than this become one mean per downsample_bucket_s "
        "(unset: keep every point).",
    )
    downsample_bucket_s: float = Field(default=3600.0, ge=60, le=86400)
    retention_days: float | None = Field(
        default=400.0,
        gt=0,
        description="SQLite: points older than this are deleted (unset: kept forever). "
        "InfluxDB: set the bucket's retention period instead.",
    )
    retention_every_s: float = Field(
        default=3600.0, ge=10, description="How often the retention pass runs."
    )
    stall_warn_s: float = Field(
        default=10.0,
        ge=0.5,
        le=3600,
        description="A telemetry write taking longer is logged, counted "
        "(kizuki_store_stalls_total) and makes /readyz answer 503 until it commits.",
    )


class IngestSettings(Section):
    dead_letter_retention_days: float | None = Field(
        default=30.0, gt=0, description="Dead letters older than this are deleted (unset: kept)."
    )
    max_payload_bytes: int = Field(default=256 * 1024, ge=64, le=256 * 1024 * 1024)
    max_future_skew_s: float = Field(default=300.0, ge=0)
    max_past_skew_s: float = Field(default=400 * 86400.0, gt=0)
    queue_size: int = Field(
        default=20000,
        ge=100,
        le=10_000_000,
        description="Messages held in memory between the receiver and the writer.",
    )
    transport: Literal["mqtt", "nats"] = Field(
        default="mqtt",
        description="'mqtt': subscribe to one MQTT broker (the default); 'nats': pull "
        "this worker's partitions from NATS JetStream (docs/scale-out.md).",
    )
    receiver: Literal["process", "thread"] = Field(
        default="process",
        description="Where paho's client runs: 'process', a child process, so MQTT receive "
        "and decoding, commits and detection use two cores (see ingest/receiver.py); "
        "'thread', a thread of the engine's process.",
    )
    batch_linger_s: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description="After an idle spell, wait this long for more messages before a batch "
        "(a trickle becomes one commit and one detector pass instead of many).",
    )


class NatsSettings(Section):
    """The partitioned path (``ingest.transport = "nats"``): a JetStream stream whose
    subjects carry the partition, ``<subject_prefix>.<p>.devices.<id>.telemetry``."""

    urls: list[str] = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        description="NATS servers of the cluster (any reachable one will do).",
    )
    stream: str = "KIZUKI"
    subject_prefix: str = Field(
        default="part",
        description="Partition subjects are <prefix>.<partition>.<topic as subject>.",
    )
    durable_prefix: str = Field(
        default="kizuki",
        description="Durable consumer of partition p: <durable_prefix>-p<p>; whoever owns "
        "p pulls through it, from its ack floor.",
    )
    replicas: int = Field(default=3, ge=1, le=5, description="Stream replicas when created.")
    max_age_s: float = Field(default=7 * 86400.0, gt=0, description="Stream retention.")
    ack_wait_s: float = Field(
        default=60.0,
        gt=0,
        description="Unacked messages are delivered again after this long (a dead "
        "worker's partitions resume after it).",
    )
    max_ack_pending: int = Field(default=20000, ge=1, description="Per partition.")
    lease_ttl_s: float = Field(
        default=30.0,
        ge=1,
        description="A worker's lease on its partitions (NATS KV) lapses this long after "
        "it stops renewing it (renewed every third of it, given up at a clean stop).",
    )
    lease_wait_s: float = Field(
        default=45.0,
        ge=0,
        description="How long a starting worker waits for another worker's lease on one "
        "of its partitions to lapse before it refuses to start.",
    )
    fetch_batch: int = Field(default=1000, ge=1)


class Sections(Protocol):
    """Anything holding ingest's three sections (the application's root settings)."""

    @property
    def mqtt(self) -> MqttSettings: ...
    @property
    def ingest(self) -> IngestSettings: ...
    @property
    def store(self) -> StoreSettings: ...


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What ingest reads: the broker (``mqtt``), bounds and receiver (``ingest``) and the
    batching of commits (``store``)."""

    mqtt: MqttSettings = field(default_factory=MqttSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    store: StoreSettings = field(default_factory=StoreSettings)

    @classmethod
    def of(cls, root: Sections) -> IngestConfig:
        return cls(root.mqtt, root.ingest, root.store)
