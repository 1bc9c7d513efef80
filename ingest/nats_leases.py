"""One owner per partition at a time: leases in a NATS key-value bucket.

Two workers configured with the same partition would both pull from its consumer and
split its devices' detector state. Before pulling, a worker takes a lease on each of its
partitions: key ``p<p>`` in the bucket ``<durable_prefix>-owners`` holding the worker's
name, created only if absent (or already its own: a restart under the same name). The
bucket's entries expire ``lease_ttl_s`` after their last write; the worker renews its
leases every third of that and deletes them when it stops, so a partition moves at
once after a clean stop and after ``lease_ttl_s`` when its owner died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError, NotFoundError

from ingest.base import IngestError
from ingest.settings import NatsSettings

log = logging.getLogger(__name__)

RETRY_S = 0.25


class PartitionTaken(IngestError):
    """Another worker holds the lease of a partition this one was told to own."""


class Leases:
    """This worker's leases on its partitions (see the module docstring)."""

    def __init__(self, settings: NatsSettings, owner: str, partitions: Collection[int]) -> None:
        self.settings = settings
        self.owner = owner
        self.partitions = sorted(partitions)
        self.bucket = f"{settings.durable_prefix}-owners"
        self._kv: Any = None
        self._revisions: dict[int, int] = {}

    async def acquire(self, js: Any, wait_s: float) -> None:
        """Take every lease, waiting up to ``wait_s`` for one another worker holds."""
        self._kv = await self._open(js)
        for p in self.partitions:
            self._revisions[p] = await self._take(p, time.monotonic() + wait_s)

    async def renew(self) -> None:
        """Write every lease again (its expiry starts over); log one that was taken."""
        for p, revision in list(self._revisions.items()):
            try:
                self._revisions[p] = await self._kv.update(
                    f"p{p}", self.owner.encode(), last=revision
                )
            except KeyWrongLastSequenceError:
                log.error("lease of partition %d was taken by another worker", p)
                del self._revisions[p]

    async def release(self) -> None:
        """Give every lease up (a clean stop: the next owner need not wait)."""
        for p, revision in self._revisions.items():
            with contextlib.suppress(Exception):
                await self._kv.delete(f"p{p}", last=revision)
        self._revisions.clear()

    async def _open(self, js: Any) -> Any:
        try:
            return await js.key_value(self.bucket)
        except (BucketNotFoundError, NotFoundError):
            return await js.create_key_value(
                KeyValueConfig(
                    bucket=self.bucket,
                    history=1,
                    ttl=self.settings.lease_ttl_s,
                    replicas=self.settings.replicas,
                    storage=StorageType.FILE,
                )
            )

    async def _take(self, p: int, deadline: float) -> int:
        key, me = f"p{p}", self.owner.encode()
        while True:
            try:
                return int(await self._kv.create(key, me))
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._kv.get(key)
            except Exception:  # noqa: BLE001 - expired or deleted meanwhile: create again
                await asyncio.sleep(RETRY_S)
                continue
            if entry.value == me:  # ours, from before a restart
                return int(await self._kv.update(key, me, last=entry.revision))
            if time.monotonic() >= deadline:
                holder = (entry.value or b"").decode(errors="replace")
                raise PartitionTaken(
                    f"partition {p} is owned by worker {holder!r}: give each partition one "
                    f"owner (its lease lapses {self.settings.lease_ttl_s:.0f} s after that "
                    "worker stops renewing it)"
                )
            await asyncio.sleep(RETRY_S)
