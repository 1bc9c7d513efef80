"""A one-slot hand-off from the writer thread to the thread that runs sink-then-ack.

The writer commits batch k+1 while batch k is being scored and acknowledged. SQLite and
the network release the GIL while they work, so detection overlaps the commit instead of
waiting behind it. Batches are handed over in commit order and handled one at a time, so
the sink still sees every committed batch, in order, before its messages are acked.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class Handoff(Generic[T]):
    """Runs ``work(item)`` for each ``put`` item on its own thread; ``put`` blocks when full."""

    def __init__(self, work: Callable[[T], None], name: str, depth: int = 1) -> None:
        self.work = work
        self._items: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, item: T) -> None:
        self._items.put(item)

    def close(self, timeout: float) -> None:
        """Finish what was handed over, then stop the thread."""
        if self._thread.is_alive():
            self._items.put(_STOP, timeout=timeout)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._items.get()
            if item is _STOP:
                return
            try:
                self.work(item)  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001 - unacked; the broker redelivers them
                log.exception("ingest failed after committing a batch")
