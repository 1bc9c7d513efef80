"""Settings sections of ingest/ (see :mod:`core.settings`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, field_validator

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
    batch_size: int = 5000
    flush_interval_s: float = 0.2


class IngestSettings(Section):
    max_payload_bytes: int = 256 * 1024
    max_future_skew_s: float = 300.0
    max_past_skew_s: float = 400 * 86400.0
    queue_size: int = 20000
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
