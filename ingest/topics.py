"""Topic names: ``devices/{device_id}/telemetry`` carries one device's readings.

The device id comes from the topic, never from the payload, so a broker ACL that pins a
device to ``devices/<username>/#`` also pins what it can claim to be. The subscription
pattern is compiled once: its single ``+`` level is the device id.
"""

from __future__ import annotations

import re

from ingest.base import IngestError, PayloadError

DEFAULT_PATTERN = "devices/+/telemetry"
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


class TopicParser:
    """Device ids from topics matching a subscription pattern with one ``+`` level."""

    def __init__(self, pattern: str = DEFAULT_PATTERN) -> None:
        levels = pattern.split("/")
        if levels.count("+") != 1 or "#" in levels:
            raise IngestError(f"topic {pattern!r} needs exactly one '+' level (the device id)")
        self.pattern = pattern
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
