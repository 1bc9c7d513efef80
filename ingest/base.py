"""The protocols of the stores that keep readings and dead letters, and ingest's errors.

Exceptions::

    IngestError
    ├── PayloadError        a message that cannot become readings (carries a reason code)
    └── StoreError          the telemetry store could not accept or answer
        ├── StoreUnavailable  the store is down; retry later, nothing was written
        └── StoreRejected     the store refused the data itself; retrying cannot help
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.readings import DeadLetter, Reading


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
