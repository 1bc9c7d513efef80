"""Which worker this process is and which partitions it owns (``[worker]`` settings).

``kizuki run --partitions 0-3 --of 8`` (or ``KIZUKI_WORKER__PARTITIONS=0-3``,
``KIZUKI_WORKER__OF=8``) owns partitions 0-3 of 8. A Kubernetes StatefulSet gives each
pod an ordinal: ``KIZUKI_WORKER__COUNT=2`` with ``KIZUKI_WORKER__ORDINAL`` (from the
pod-index label) or a host name ending in ``-<ordinal>`` (``kizuki-1``) owns that
worker's contiguous block (:func:`core.partitions.block_of`).

The worker's name (default: the host name) fills ``{worker}`` in the MQTT client id, so
replicas on the plain MQTT path never take each other's broker session and each keeps
its own across restarts.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, model_validator

from core.partitions import block_of, describe, parse_partitions
from core.settings import Section
from ingest.settings import IngestConfig, MqttSettings

log = logging.getLogger(__name__)

_ORDINAL = re.compile(r"-(\d+)$")


class WorkerSettings(Section):
    name: str = Field(default="", description="This worker's name; default the host name.")
    partitions: str = Field(
        default="", description="Partitions this worker owns, e.g. 0-3,6 (needs `of`)."
    )
    of: int = Field(
        default=0,
        ge=0,
        description="How many partitions there are (the N of the server's partition(N,1) "
        "mapping); 0 = not partitioned.",
    )
    ordinal: int | None = Field(
        default=None, ge=0, description="This worker's index (StatefulSet pod index)."
    )
    count: int | None = Field(
        default=None, ge=1, description="How many workers share the partitions by ordinal."
    )
    checkpoint_dir: Path | None = Field(
        default=None,
        description="Per-partition detector checkpoints; default <data_dir>/partitions. "
        "Shared storage lets a partition move to another worker with its state.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> WorkerSettings:
        self.ownership()  # raises ValueError saying what is wrong
        return self

    def worker_name(self) -> str:
        return self.name or socket.gethostname()

    def ownership(self) -> Ownership | None:
        """The partitions owned, or None when not partitioned; ``ValueError`` if unclear."""
        if not self.of:
            if self.partitions or self.count is not None:
                raise ValueError("worker partitions need the partition count: set `of` (--of N)")
            return None
        if self.partitions:
            if self.count is not None:
                raise ValueError("give either partitions (0-3) or a worker count, not both")
            return Ownership(parse_partitions(self.partitions, self.of), self.of)
        if self.count is None:
            raise ValueError(f"which of the {self.of} partitions? set --partitions or a count")
        return Ownership(block_of(self._ordinal(), self.count, self.of), self.of)

    def _ordinal(self) -> int:
        if self.ordinal is not None:
            return self.ordinal
        found = _ORDINAL.search(self.worker_name())
        if found is None:
            raise ValueError(
                f"worker name {self.worker_name()!r} does not end in -<ordinal>: "
                "set KIZUKI_WORKER__ORDINAL"
            )
        return int(found.group(1))


@dataclass(frozen=True)
class Ownership:
    """Partitions ``owned`` out of ``count``."""

    owned: frozenset[int]
    count: int

    def __str__(self) -> str:
        return f"partitions {describe(self.owned)} of {self.count}"


def worker_mqtt(mqtt: MqttSettings, worker: WorkerSettings) -> MqttSettings:
    """The MQTT settings with this worker's client id; warns when replicas would collide."""
    resolved = mqtt.for_worker(worker.worker_name())
    if mqtt.topic.startswith(("$share/", "$queue/")) and "{worker}" not in mqtt.client_id:
        log.warning(
            "shared subscription with the fixed client id %r: replicas will take each "
            "other's session; set KIZUKI_MQTT__CLIENT_ID=kizuki-{worker}",
            mqtt.client_id,
        )
    return resolved


def ingest_config(ingest: IngestConfig, worker: WorkerSettings) -> IngestConfig:
    """``ingest`` with the worker's MQTT client id filled in."""
    return IngestConfig(worker_mqtt(ingest.mqtt, worker), ingest.ingest, ingest.store)
