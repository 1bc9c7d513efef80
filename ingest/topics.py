"""Topic names: ``devices/{device_id}/telemetry`` carries one device's readings.

The device id comes from the topic, never from the payload, so a broker ACL that pins a
device to ``devices/<username>/#`` also pins what it can claim to be.
"""

from __future__ import annotations

import re

from ingest.base import PayloadError

TELEMETRY_SUFFIX = "telemetry"
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


def telemetry_topic(device_id: str) -> str:
    """The topic a device publishes its telemetry on."""
    return f"devices/{device_id}/{TELEMETRY_SUFFIX}"


def device_from_topic(topic: str) -> str:
    """The device id named by a telemetry topic; ``PayloadError('bad_topic')`` otherwise."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != "devices" or parts[2] != TELEMETRY_SUFFIX:
        raise PayloadError("bad_topic", f"expected devices/<id>/telemetry, got {topic[:200]!r}")
    device_id = parts[1]
    if not _DEVICE_ID.fullmatch(device_id):
        raise PayloadError("bad_topic", f"device id {device_id[:200]!r} is not a valid id")
    return device_id
