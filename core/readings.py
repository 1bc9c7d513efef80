"""The unit that flows through Kizuki, and a message refused on its way in.

``Reading.ts`` is float seconds since the Unix epoch (UTC): the one clock type of
telemetry, as in :mod:`core.clock`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

DEAD_LETTER_REASONS = (
    "not_json",
    "empty_payload",
    "bad_schema",
    "wrong_type",
    "non_finite",
    "missing_ts",
    "ts_future",
    "ts_past",
    "too_large",
    "unknown_metric",
    "out_of_range",
    "reserved_name",
    "topic_mismatch",
    "bad_topic",
    "parser_error",  # the parser itself failed on this message (a bug; see the detail)
    "store_rejected",  # the telemetry store refused the reading (see the detail)
)
PREVIEW_BYTES = 4096  # a dead letter keeps at most this much of the payload


@dataclass(frozen=True, slots=True)
class Reading:
    """One device's metric values at one instant.

    ``ts`` is seconds since the Unix epoch (UTC), as a float.
    """

    device_id: str
    ts: float
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message refused by ingest, kept with the reason it was refused.

    ``payload`` is the raw message, byte for byte (it need not be UTF-8), or once
    :meth:`bounded` its first :data:`PREVIEW_BYTES`, with the whole message's ``size``
    and ``sha256`` (a 100 MB message must not become 100 MB of database). ``msg_key``
    names the MQTT delivery (packet id + digest of topic and payload); a letter marked
    ``redelivered`` (the broker's DUP flag) is skipped when one with the same key and
    reason is already kept, so a redelivery after a crash is not counted twice.
    """

    topic: str
    payload: bytes
    reason: str
    detail: str
    received_at: float
    id: int | None = None
    msg_key: str | None = None
    redelivered: bool = False
    size: int | None = None  # bytes of the whole message (None: ``payload`` is whole)
    sha256: str | None = None  # hex digest of the whole message

    def bounded(self, limit: int = PREVIEW_BYTES) -> DeadLetter:
        """This letter keeping at most ``limit`` payload bytes, with size and digest."""
        if self.size is not None:
            return (
                self
                if len(self.payload) <= limit
                else dataclasses.replace(self, payload=self.payload[:limit])
            )
        digest = hashlib.sha256(self.payload).hexdigest()
        return dataclasses.replace(
            self, payload=self.payload[:limit], size=len(self.payload), sha256=digest
        )

    @property
    def truncated(self) -> bool:
        """True if ``payload`` is only the start of the message."""
        return self.size is not None and self.size > len(self.payload)

    @property
    def payload_base64(self) -> str:
        """The kept payload, base64-encoded (lossless, unlike a UTF-8 preview)."""
        return base64.b64encode(self.payload).decode("ascii")

    @property
    def payload_preview(self) -> str:
        """The payload as UTF-8 text, undecodable bytes replaced (for display)."""
        return self.payload.decode("utf-8", errors="replace")
