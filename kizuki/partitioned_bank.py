"""Detector state per partition: one :class:`~anomaly.bank.DetectorBank` and one
checkpoint file per owned partition, so a partition can move to another worker.

Readings are routed by :func:`core.partitions.partition_of` of their device id; on the
NATS path the subject already carried that partition and ingest refused any message
whose subject disagrees, so a worker only ever sees its own partitions. A reading of a
partition this worker does not own is counted in ``refused`` and never reaches a
detector.

A checkpoint is ``<dir>/p<p>-of-<N>.ckpt``: the partition count is in the name because
changing N maps devices to other partitions, and a checkpoint of another N must not be
loaded as if it still held the same devices.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from anomaly.bank import DetectorBank
from core.events import AnomalyEvent
from core.partitions import partition_of
from core.readings import Reading

log = logging.getLogger(__name__)


def checkpoint_file(directory: Path, partition: int, count: int) -> Path:
    """Where partition ``partition`` of ``count`` keeps its detector state."""
    return directory / f"p{partition}-of-{count}.ckpt"


class PartitionedBank:
    """The owned partitions' banks behind the one-bank interface the engine uses."""

    def __init__(self, banks: dict[int, DetectorBank], count: int, directory: Path) -> None:
        self.banks = banks
        self.count = count
        self.directory = directory
        self.refused = 0  # readings of partitions not owned
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        owned: frozenset[int],
        count: int,
        directory: Path,
        load: Callable[[Path], DetectorBank],
        fresh: Callable[[], DetectorBank],
    ) -> PartitionedBank:
        """Each owned partition's bank from its checkpoint, or fresh when it has none."""
        banks: dict[int, DetectorBank] = {}
        for p in sorted(owned):
            path = checkpoint_file(directory, p, count)
            banks[p] = fresh()
            if path.exists():
                try:
                    banks[p] = load(path)
                except Exception as exc:  # noqa: BLE001 - start that partition fresh
                    log.warning(
                        "checkpoint %s unreadable (%s); partition %d starts fresh", path, exc, p
                    )
        return cls(banks, count, directory)

    def update(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        """Feed each reading to its partition's bank; events in each bank's order."""
        groups: dict[int, list[Reading]] = {}
        for reading in readings:
            groups.setdefault(partition_of(reading.device_id, self.count), []).append(reading)
        events: list[AnomalyEvent] = []
        for p, group in groups.items():
            bank = self.banks.get(p)
            if bank is None:
                with self._lock:
                    self.refused += len(group)
                log.error("%d readings of partition %d, not owned: dropped", len(group), p)
                continue
            events.extend(bank.update(group))
        return events

    @property
    def extra(self) -> dict[str, Any]:
        """The caller's state saved with the checkpoints, merged over the partitions
        (the detection gate keeps per-device watermarks, so the union is exact)."""
        merged: dict[str, Any] = {}
        for bank in self.banks.values():
            for key, value in bank.extra.items():
                if isinstance(value, dict):
                    merged.setdefault(key, {}).update(value)
                else:
                    merged.setdefault(key, value)
        return merged

    def _of(self, device_id: str) -> DetectorBank | None:
        return self.banks.get(partition_of(device_id, self.count))

    def open_modes(self, device_id: str) -> list[str]:
        bank = self._of(device_id)
        return list(bank.open_modes(device_id)) if bank is not None else []

    def assess(self, device_id: str, mode: str, ts: float) -> AnomalyEvent | None:
        bank = self._of(device_id)
        return bank.assess(device_id, mode, ts) if bank is not None else None

    def accept(self, device_id: str, mode: str) -> Any:
        bank = self._of(device_id)
        return bank.accept(device_id, mode) if bank is not None else None

    def restore(self, device_id: str, undo: Any) -> None:
        bank = self._of(device_id)
        if bank is not None and undo is not None:
            bank.restore(device_id, undo)

    def save(self, _path: Path | None = None, extra: dict[str, Any] | None = None) -> None:
        """Write every owned partition's checkpoint (atomically, one file each), each
        with the part of ``extra`` that concerns its own devices."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for p, bank in self.banks.items():
            bank.save(checkpoint_file(self.directory, p, self.count), self._part(extra, p))

    def _part(self, extra: dict[str, Any] | None, p: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (extra or {}).items():
            if isinstance(value, dict):
                out[key] = {k: v for k, v in value.items() if partition_of(k, self.count) == p}
            else:
                out[key] = value
        return out

    def device_count(self) -> int:
        return sum(bank.device_count() for bank in self.banks.values())

    def open_anomalies(self) -> dict[tuple[str, str], float]:
        found: dict[tuple[str, str], float] = {}
        for bank in self.banks.values():
            found.update(bank.open_anomalies())
        return found
