"""Topic names: ``devices/{device_id}/telemetry`` carries one device's readings.

The device id comes from the topic, never from the payload, so a broker ACL that pins a
device to ``devices/<username>/#`` also pins what it can claim to be. The subscription
pattern is compiled once: its single ``+`` level is the device id. A shared subscription
(``$share/<group>/devices/+/telemetry``, or EMQX's ``$queue/devices/+/telemetry``) is a
filter, not a topic: messages arrive on ``devices/<id>/telemetry``, so the template that
reads the id is the filter without its ``$share/<group>/`` prefix.

On the partitioned path (NATS JetStream) messages arrive on partition subjects,
``part.<p>.devices.<id>.telemetry``: :class:`PartitionSubjectParser` reads the device id
and refuses a message whose partition is not the device's (a server mapping with another
partition count) or not one this worker owns.
"""

from __future__ import annotations

import re
from collections.abc import Set

from core.partitions import partition_of
from ingest.base import IngestError, PayloadError

DEFAULT_PATTERN = "devices/+/telemetry"
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def topic_template(subscription: str) -> str:
    """The topic pattern behind a subscription filter: ``$share/g/a/+/b`` -> ``a/+/b``."""
    levels = subscription.split("/")
    if levels[0] == "$share":
        if len(levels) < 3 or not levels[1] or any(c in levels[1] for c in "+#"):
            raise IngestError(
                f"shared subscription {subscription!r} must be $share/<group>/<topic filter>"
            )
        return "/".join(levels[2:])
    if levels[0] == "$queue":
        return "/".join(levels[1:])
    return subscription


class TopicParser:
    """Device ids from topics matching a subscription pattern with one ``+`` level."""

    def __init__(self, pattern: str = DEFAULT_PATTERN) -> None:
        template = topic_template(pattern)
        levels = template.split("/")
        if levels.count("+") != 1 or "#" in levels:
            raise IngestError(f"topic {pattern!r} needs exactly one '+' level (the device id)")
        self.pattern = template
        self._levels = levels
        self._index = levels.index("+")

    def __call__(self, topic: str) -> str:
        """The device id; ``PayloadError('bad_topic')`` when the topic does not fit."""
        levels = topic.split("/")
        if len(levels) != len(self._levels) or any(
            want not in ("+", got) for want, got in zip(self._levels, levels, strict=True)
        ):
            raise PayloadError("bad_topic", f"expected {self.pattern}, got {topic[:200]!r}")
        device_id = levels[self._index]
        if not _DEVICE_ID.fullmatch(device_id):
            raise PayloadError("bad_topic", f"device id {device_id[:200]!r} is not a valid id")
        return device_id


class PartitionSubjectParser:
    """Device ids from ``<prefix>.<p>.<topic as subject>`` subjects of owned partitions."""

    def __init__(
        self, prefix: str, count: int, owned: Set[int], pattern: str = DEFAULT_PATTERN
    ) -> None:
        self._topics = TopicParser(pattern)
        self.prefix, self.count, self.owned = prefix, count, frozenset(owned)

    def partition(self, subject: str) -> int:
        """The partition number a subject carries (``PayloadError('bad_topic')`` if none)."""
        head, _, rest = subject.partition(".")
        number, _, _ = rest.partition(".")
        if head != self.prefix or not number.isdigit():
            raise PayloadError("bad_topic", f"expected {self.prefix}.<p>.…, got {subject[:200]!r}")
        return int(number)

    def __call__(self, subject: str) -> str:
        """The device id; ``PayloadError`` ``bad_topic``, ``bad_partition`` or ``not_owned``."""
        p = self.partition(subject)
        topic = subject.split(".", 2)[2].replace(".", "/") if subject.count(".") >= 2 else ""
        device_id = self._topics(topic)
        if p != partition_of(device_id, self.count):
            raise PayloadError(
                "bad_partition",
                f"{subject[:200]!r} is in partition {p}, but {device_id!r} hashes to "
                f"{partition_of(device_id, self.count)} of {self.count}: the server's "
                "partition() mapping and the workers' partition count differ",
            )
        if p not in self.owned:
            raise PayloadError("not_owned", f"partition {p} is not this worker's ({subject!r})")
        return device_id
