"""Commit one decoded batch: store, dead letters, sink; retry with backoff while down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ingest.base import DeadLetter, DeadLetterStore, Reading, TelemetryStore
from kizuki.metrics import READINGS_IN, STORE_BACKPRESSURE, STORE_ERRORS, WRITE_LATENCY

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.25
MAX_DELAY_S = 10.0
STOP_GRACE_S = 10.0


class Committer:
    """Writes batches durably before anything is acknowledged; counts what it did."""

    def __init__(
        self,
        store: TelemetryStore,
        deadletters: DeadLetterStore,
        sink: Callable[[list[Reading]], None] | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.deadletters = deadletters
        self.sink = sink
        self.clock = clock
        self._counts = dict.fromkeys(
            ("acked", "readings", "points", "dead_letters", "batches", "store_errors",
             "sink_errors", "backpressure"), 0,
        )  # fmt: skip

    def commit(
        self, readings: list[Reading], letters: Sequence[DeadLetter], stopping: threading.Event
    ) -> bool:
        """True once committed; False if the store stayed down past the stop grace period."""
        delay, give_up_at = FIRST_DELAY_S, None
        while True:
            try:
                self._write(readings, letters)
                break
            except Exception as exc:  # noqa: BLE001 - any store failure means: hold the acks
                self._failed(exc)
            if stopping.is_set():
                give_up_at = give_up_at or time.monotonic() + STOP_GRACE_S
                if time.monotonic() >= give_up_at:
                    log.error("store still down at shutdown; broker keeps the unacked messages")
                    return False
            _pause(stopping, delay)
            delay = min(delay * 2, MAX_DELAY_S)
        self._recovered()
        self._call_sink(readings)
        return True

    def acked(self, n: int) -> None:
        self._counts["acked"] += n

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    def _write(self, readings: list[Reading], letters: Sequence[DeadLetter]) -> None:
        start = time.perf_counter()
        points = self.store.write(readings) if readings else 0
        if letters:
            self.deadletters.add(letters)
        WRITE_LATENCY.observe(time.perf_counter() - start)
        READINGS_IN.inc(len(readings))
        counts = self._counts
        counts["readings"] += len(readings)
        counts["points"] += points
        counts["dead_letters"] += len(letters)
        counts["batches"] += 1

    def _failed(self, exc: Exception) -> None:
        STORE_ERRORS.inc()
        self._counts["store_errors"] += 1
        if not self._counts["backpressure"]:
            self._counts["backpressure"] = 1
            STORE_BACKPRESSURE.set(1)
            log.warning("store write failed, holding acknowledgements and retrying: %s", exc)

    def _recovered(self) -> None:
        if self._counts["backpressure"]:
            self._counts["backpressure"] = 0
            STORE_BACKPRESSURE.set(0)
            log.warning("store is back; acknowledging again")

    def _call_sink(self, readings: list[Reading]) -> None:
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
