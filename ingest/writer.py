"""Commit one decoded batch (store, dead letters; retry with backoff while down), then sink.

A store that refuses data (``StoreRejected``: InfluxDB's HTTP 400 for a field it will
not take, points beyond the retention period) is not "down": retrying the same batch
would fail forever and hold every acknowledgement behind it. The batch is bisected to
find the readings the store refuses; those messages are dead-lettered as
``store_rejected`` with the server's message, the rest are committed (writes are
idempotent, so rewriting what a partial write already took is harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from core.metrics import (
    DEAD_LETTERS,
    READINGS_IN,
    STORE_BACKPRESSURE,
    STORE_ERRORS,
    STORE_STALLS,
    WRITE_LATENCY,
)
from core.readings import DeadLetter, Reading
from ingest.base import DeadLetterStore, StoreRejected, TelemetryStore
from ingest.decode import DecodedBatch

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 10.0
STOP_GRACE_S = 10.0
STILL_DOWN_LOG_S = 30.0


class Committer:
    """Writes batches durably before anything is acknowledged; counts what it did."""

    def __init__(
        self,
        store: TelemetryStore,
        deadletters: DeadLetterStore,
        sink: Callable[[list[Reading]], None] | None,
        clock: Callable[[], float] = time.time,
        *,
        still_down_log_s: float = STILL_DOWN_LOG_S,
    ) -> None:
        self.store = store
        self.deadletters = deadletters
        self.sink = sink
        self.clock = clock
        self.still_down_log_s = still_down_log_s
        self._counts = dict.fromkeys(
            (
                "acked",
                "readings",
                "points",
                "dead_letters",
                "batches",
                "store_errors",
                "store_rejected",
                "sink_errors",
                "backpressure",
            ),
            0,
        )
        self._down_since = self._last_log = 0.0
        self._writing_since: float | None = None  # monotonic start of the write under way
        self._stall_reported: float | None = None

    def commit(self, batch: DecodedBatch, stopping: threading.Event) -> list[Reading] | None:
        """The readings committed (the store refused none of them, or some: see the module
        docstring); None if the store stayed down past the stop grace period."""
        delay, give_up_at = FIRST_DELAY_S, None
        while True:
            self._writing_since = time.monotonic()
            try:
                accepted = self._write(batch)
                break
            except Exception as exc:  # noqa: BLE001 - any store failure means: hold the acks
                self._failed(exc)
            finally:
                self._writing_since = None
            if stopping.is_set():
                give_up_at = give_up_at or time.monotonic() + STOP_GRACE_S
                if time.monotonic() >= give_up_at:
                    log.error("store still down at shutdown; broker keeps the unacked messages")
                    return None
            _pause(stopping, delay)
            delay = min(delay * 2, MAX_DELAY_S)
        self._recovered()
        return accepted

    def stalled_for(self) -> float:
        """Seconds the write under way has taken so far (0 when none is)."""
        since = self._writing_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def healthy(self, stall_s: float) -> bool:
        """The store takes writes: not failing, and no write stuck for ``stall_s``."""
        return not self._counts["backpressure"] and self.stalled_for() < stall_s

    def watch(self, stall_s: float) -> None:
        """Log and count (``kizuki_store_stalls_total``) a write stuck for ``stall_s``,
        once per stall; called periodically from outside the writer thread."""
        since = self._writing_since
        if since is None or time.monotonic() - since < stall_s or self._stall_reported == since:
            return
        self._stall_reported = since
        STORE_STALLS.inc()
        log.warning(
            "telemetry store write stalled for %.0f s (batch of readings waiting; nothing "
            "is acknowledged until it commits)",
            time.monotonic() - since,
        )

    def acked(self, n: int) -> None:
        self._counts["acked"] += n

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def _write(self, batch: DecodedBatch) -> list[Reading]:
        start = time.perf_counter()
        points, accepted, refused = self._store(batch)
        letters = batch.letters + refused
        kept = self._keep(letters) if letters else []
        WRITE_LATENCY.observe(time.perf_counter() - start)
        READINGS_IN.inc(len(accepted))
        counts = self._counts
        counts["readings"] += len(accepted)
        counts["points"] += points
        counts["dead_letters"] += len(kept)
        counts["store_rejected"] += len(refused)
        counts["batches"] += 1
        for reason, n in Counter(d.reason for d in kept).items():
            DEAD_LETTERS.labels(reason).inc(n)
        return accepted

    def _store(self, batch: DecodedBatch) -> tuple[int, list[Reading], list[DeadLetter]]:
        """(points written, readings accepted, letters for the messages the store refused)."""
        if not batch.readings:
            return 0, [], []
        try:
            return self.store.write(batch.readings), batch.readings, []
        except StoreRejected as exc:
            log.warning("store refused part of a batch (%s); finding the readings", exc.message)
        refused: dict[int, list[str]] = {}
        points = self._write_around(batch, 0, len(batch.readings), refused)
        accepted = [r for i, r in enumerate(batch.readings) if i not in refused]
        by_message: dict[int, set[str]] = {}
        for i, why in refused.items():
            by_message.setdefault(batch.origins[i], set()).update(why)
        letters = [
            batch.refuse(m, "store_rejected", "; ".join(sorted(w))) for m, w in by_message.items()
        ]
        return points, accepted, letters

    def _write_around(
        self, batch: DecodedBatch, lo: int, hi: int, refused: dict[int, list[str]]
    ) -> int:
        """Write readings[lo:hi], halving around refusals; record refused reading indexes."""
        try:
            return self.store.write(batch.readings[lo:hi])
        except StoreRejected as exc:
            if hi - lo == 1:
                refused[lo] = [exc.message]
                return 0
        mid = (lo + hi) // 2
        return self._write_around(batch, lo, mid, refused) + self._write_around(
            batch, mid, hi, refused
        )

    def _keep(self, letters: Sequence[DeadLetter]) -> Sequence[DeadLetter]:
        kept = self.deadletters.add(letters)
        return letters if kept is None else kept

    def _failed(self, exc: Exception) -> None:
        STORE_ERRORS.inc()
        counts, now = self._counts, time.monotonic()
        counts["store_errors"] += 1
        if not counts["backpressure"]:
            counts["backpressure"] = 1
            STORE_BACKPRESSURE.set(1)
            self._down_since = self._last_log = now
            log.warning("store write failed, holding acknowledgements and retrying: %s", exc)
        elif now - self._last_log >= self.still_down_log_s:
            self._last_log = now
            log.warning(
                "store still down after %.0f s (%d failed writes so far), acknowledgements "
                "held: %s",
                now - self._down_since,
                counts["store_errors"],
                exc,
            )

    def _recovered(self) -> None:
        if self._counts["backpressure"]:
            self._counts["backpressure"] = 0
            STORE_BACKPRESSURE.set(0)
            down = time.monotonic() - self._down_since
            log.warning("store is back after %.0f s; acknowledging again", down)

    def deliver(self, readings: list[Reading]) -> None:
        """Give committed readings to the sink; its failures are counted, never raised."""
        if self.sink is None or not readings:
            return
        try:
            self.sink(readings)
        except Exception:  # noqa: BLE001 - the sink never stops ingest
            self._counts["sink_errors"] += 1
            log.exception("ingest sink failed on a batch of %d readings", len(readings))


def _pause(stopping: threading.Event, delay: float) -> None:
    if stopping.is_set():
        time.sleep(min(delay, 1.0))
    else:
        stopping.wait(delay)
