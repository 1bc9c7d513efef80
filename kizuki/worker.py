"""Wiring of a worker: where its messages come from and where its detector state lives.

* ``ingest.transport = "mqtt"`` (the default): one MQTT subscription, the client id
  filled in with the worker's name (``{worker}``). Unpartitioned: one detector bank, one
  checkpoint. Several workers with a ``$share/...`` subscription split the messages
  with no device affinity (each device's detector state may be split): use it where
  that does not matter (ingest-only workers, ``python -m kizuki.ingest_run``).
* ``ingest.transport = "nats"``: the worker owns partitions (``[worker]`` settings) and
  pulls exactly those from NATS JetStream (:class:`ingest.nats_source.NatsReceiver`);
  one bank and one checkpoint per partition (:class:`PartitionedBank`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from anomaly.bank import DetectorBank
from core.devices import Directory
from core.readings import Reading
from ingest.base import DeadLetterStore, IngestError, TelemetryStore
from ingest.mqtt import MqttIngest
from ingest.nats_source import NatsReceiver
from ingest.settings import IngestConfig
from ingest.topics import PartitionSubjectParser, topic_template
from kizuki.config import Settings
from kizuki.partitioned_bank import PartitionedBank
from kizuki.scale import Ownership, ingest_config


def ownership(settings: Settings) -> Ownership | None:
    """The partitions this worker owns (None: unpartitioned); ``IngestError`` if the
    transport cannot keep them apart."""
    owned = settings.worker.ownership()
    if owned is not None and settings.ingest.transport != "nats":
        raise IngestError(
            f"{owned} needs KIZUKI_INGEST__TRANSPORT=nats: plain MQTT deals one device's "
            "messages to several workers (use $share without partitions for that)"
        )
    if owned is None and settings.ingest.transport == "nats":
        raise IngestError(
            "KIZUKI_INGEST__TRANSPORT=nats needs the partitions this worker owns: "
            "kizuki run --partitions 0-3 --of 8 (or KIZUKI_WORKER__COUNT and an ordinal)"
        )
    return owned


def make_ingest(
    settings: Settings,
    store: TelemetryStore,
    deadletters: DeadLetterStore,
    directory: Directory | None,
    sink: Callable[[list[Reading]], None] | None,
    url: str | None,
) -> MqttIngest:
    """Ingest for this worker: the MQTT subscription, or its partitions on NATS."""
    cfg = ingest_config(IngestConfig.of(settings), settings.worker)
    owned = ownership(settings)
    if owned is None:
        return MqttIngest(cfg, store, deadletters, directory, sink=sink, url=url)
    name = settings.worker.worker_name()
    receiver = NatsReceiver(
        settings.nats,
        owned.owned,
        queue_size=settings.ingest.queue_size,
        name=f"kizuki-{name}",
    )
    topics = PartitionSubjectParser(
        settings.nats.subject_prefix, owned.count, owned.owned, topic_template(settings.mqtt.topic)
    )
    return MqttIngest(
        cfg, store, deadletters, directory, sink=sink, url=url, receiver=receiver, topics=topics
    )


def checkpoint_dir(settings: Settings) -> Path:
    return settings.worker.checkpoint_dir or settings.data_dir / "partitions"


def open_partitioned_bank(
    settings: Settings,
    owned: Ownership,
    load: Callable[[Path], DetectorBank],
    fresh: Callable[[], DetectorBank],
) -> PartitionedBank:
    """One bank per owned partition, each from its checkpoint when there is one."""
    return PartitionedBank.open(owned.owned, owned.count, checkpoint_dir(settings), load, fresh)
