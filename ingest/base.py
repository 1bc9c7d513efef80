"""The unit that flows through Kizuki and the protocols of the stores that keep it.

Exceptions::

    IngestError
    ├── PayloadError        a message that cannot become readings (carries a reason code)
    └── StoreError          the telemetry store could not accept or answer
        ├── StoreUnavailable  the store is down; retry later, nothing was written
        └── StoreRejected     the store refused the data itself; retrying cannot help
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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

    ``payload`` is the raw message, byte for byte (it need not be UTF-8). ``msg_key``
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

    @property
    def payload_base64(self) -> str:
        """The raw payload, base64-encoded (lossless, unlike a UTF-8 preview)."""
        return base64.b64encode(self.payload).decode("ascii")

    @property
    def payload_preview(self) -> str:
        """The payload as UTF-8 text, undecodable bytes replaced (for display)."""
        return self.payload.decode("utf-8", errors="replace")


class IngestError(Exception):
    """Base of every error raised by ingest."""


class PayloadError(IngestError):
    """A payload (or part of it) that cannot become a valid reading."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class StoreError(IngestError):
    """The telemetry store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The store cannot be reached; nothing of the failed call was written."""


class StoreRejected(StoreError):
    """The store refused (some of) the data as invalid; ``message`` is the server's word.

    Part of the batch may have been written (InfluxDB's "partial write"); writes are
    idempotent, so writing the good part again is harmless.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@runtime_checkable
class TelemetryStore(Protocol):
    """Where readings are kept. Writes are idempotent on (device, metric, ts)."""

    def write(self, readings: Sequence[Reading]) -> int:
        """Commit readings durably; return how many metric points were written."""
        ...

    def query(
        self,
        device_id: str,
        metric: str,
        start: float,
        end: float,
        every: float | None = None,
    ) -> list[tuple[float, float]]:
        """Points of one metric in [start, end), oldest first; ``every`` seconds averages."""
        ...

    def latest(self, device_id: str) -> Reading | None:
        """The newest value of each metric of a device, stamped with the newest ts."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DeadLetterStore(Protocol):
    """Where refused messages are kept, with their reason."""

    def add(self, letters: Sequence[DeadLetter]) -> Sequence[DeadLetter] | None:
        """Keep letters; return those kept (None: all of them).

        A ``redelivered`` letter whose (``msg_key``, reason) is already kept is skipped.
        """
        ...

    def list(
        self, limit: int = 100, before_id: int | None = None, reason: str | None = None
    ) -> list[DeadLetter]: ...

    def counts(self) -> dict[str, int]:
        """Dead letters kept, per reason."""
        ...

    def close(self) -> None: ...
