"""Detection that stays true: readings in, each judged once, events never lost.

``Detection.feed(readings)`` runs in the ingest sink, before the readings are acked:
the gate (``kizuki.gate``) drops duplicates and puts late readings in time order, the
detector bank judges what it releases, open anomalies are re-assessed on a grid of
``detect.update_every_s`` of telemetry time ("update" events: living cases), and every
event is appended to the journal (``kizuki.journal``), all under one lock, so a detector
checkpoint never holds a state whose events are not persisted. ``drain()`` hands the
journal to the case service in order; a case database that is down only delays it.

After a crash, ``recover()`` replays the telemetry store from the checkpoint's
watermarks (the readings acked since the checkpoint, and those the gate held), and
``reconcile()`` makes open failure modes and open cases agree: a detection with no case
covering it gets its case, an open case whose anomaly is gone gets its recovery.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from anomaly.bank import DetectorBank
from core.events import AnomalyEvent
from core.profiles import DeviceProfile
from core.readings import Reading
from kizuki.gate import ReadingGate
from kizuki.journal import EventJournal
from tickets import labels, reconcile
from tickets.lifecycle import CaseError

log = logging.getLogger(__name__)
FAR_FUTURE = 4102444800.0  # 2100-01-01: "until now" for store queries
REPLAY_CHUNK = 2000


class Detection:
    """See the module docstring."""

    def __init__(
        self,
        bank: DetectorBank,
        gate: ReadingGate,
        journal: EventJournal,
        handle: Callable[[AnomalyEvent], object],
        update_every_s: float,
        on_event: Callable[[AnomalyEvent], None] = lambda e: None,
    ) -> None:
        self.bank, self.gate, self.journal = bank, gate, journal
        self.handle, self.update_every_s, self.on_event = handle, update_every_s, on_event
        self.lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self.counts = {"case_retries": 0, "case_errors": 0, "replayed": 0, "reconciled": 0}
        # device -> telemetry time of its newest reading judged (the gate's watermarks:
        # at a checkpoint everything released has been judged)
        self._judged: dict[str, float] = dict(bank.extra.get("gate") or {})
        gate.restore(self._judged)

    # -- the reading path ------------------------------------------------------------

    def feed(self, readings: Sequence[Reading]) -> list[AnomalyEvent]:
        """Judge new readings; their events are persisted when this returns."""
        with self.lock:
            return self._judge(self.gate.push(readings))

    def flush_idle(self) -> list[AnomalyEvent]:
        """Judge what quiet devices' readings the gate still holds."""
        with self.lock:
            return self._judge(self.gate.flush_idle())

    def _judge(self, released: list[Reading]) -> list[AnomalyEvent]:
        if not released:
            return []
        events: list[AnomalyEvent] = []
        start = 0
        for i, reading in enumerate(released):
            device_id, last = reading.device_id, self._judged.get(reading.device_id)
            if last is not None and self._cell(reading.ts) > self._cell(last):
                # the device leaves a grid cell: judge what precedes this reading, then
                # assess its open anomalies as they stood at its last reading in the cell
                if i > start:
                    events += self.bank.update(released[start:i])
                start = i
                events += self._assess(device_id, last)
            self._judged[device_id] = reading.ts
        events += self.bank.update(released[start:])
        self.journal.append(events)
        for event in events:
            self.on_event(event)
        return events

    def _cell(self, ts: float) -> int:
        return int(ts // self.update_every_s)

    def _assess(self, device_id: str, ts: float) -> list[AnomalyEvent]:
        """ "update" events for the device's open anomalies, at telemetry time ``ts``.
        Done when the device's readings cross a grid line, so the numbers depend on its
        own readings only, never on how deliveries were batched (replay gives the same)."""
        modes = self.bank.open_modes(device_id)
        found = (self.bank.assess(device_id, mode, ts) for mode in modes)
        return [event for event in found if event is not None]

    def save(self, path: Path) -> None:
        """Checkpoint the detectors with the gate's watermarks, consistent with the journal."""
        with self.lock:
            self.bank.save(path, {"gate": self.gate.watermarks()})

    # -- handing events to the case service ------------------------------------------

    def drain(self) -> int:
        """Hand pending events to the case service in order; returns how many it took.
        Stops at the first outage (the event stays first in line)."""
        if not self._drain_lock.acquire(blocking=False):
            return 0
        taken = 0
        try:
            while batch := self.journal.pending():
                for event_id, event in batch:
                    if not self._hand_over(event_id, event):
                        return taken
                    taken += 1
        finally:
            self._drain_lock.release()
        return taken

    def _hand_over(self, event_id: int, event: AnomalyEvent) -> bool:
        try:
            self.handle(event)
        except (DBAPIError, PoolTimeout) as exc:
            if isinstance(exc, DBAPIError) and not _transient(exc):
                return self._set_aside(event_id, event, exc)
            self.counts["case_retries"] += 1
            log.warning(
                "case database unavailable, %s/%s waits: %s",
                event.device_id,
                event.failure_mode,
                str(exc).splitlines()[0],
            )
            return False
        except CaseError as exc:  # e.g. the race retries ran out: try again later
            self.counts["case_retries"] += 1
            log.warning("case service busy on %s/%s: %s", event.device_id, event.failure_mode, exc)
            return False
        except Exception as exc:  # a bad event must not hold back the others
            return self._set_aside(event_id, event, exc)
        self.journal.done(event_id)
        return True

    def _set_aside(self, event_id: int, event: AnomalyEvent, exc: BaseException) -> bool:
        self.counts["case_errors"] += 1
        log.error(
            "case service refused %s/%s, set aside: %r",
            event.device_id,
            event.failure_mode,
            exc,
            exc_info=exc,
        )
        self.journal.fail(event_id, repr(exc))
        return True

    # -- what people teach the detectors ----------------------------------------------

    def learn(self, session_factory: Any, checkpoint: Path) -> int:
        """Learn agents' "false alarm" labels and undo withdrawn ones (``tickets.labels``);
        the checkpoint is written before the case DB records it, so a crash repeats a
        step, never skips one. Returns how many labels changed the detectors."""
        done = 0
        for label_id, device_id, mode in labels.to_learn(session_factory):
            undo = self.bank.accept(device_id, mode)
            self.save(checkpoint)
            labels.learnt(session_factory, label_id, undo or {})
            log.info("detectors learnt false alarm %s/%s (label %d)", device_id, mode, label_id)
            done += 1
        for label_id, device_id, undo in labels.to_restore(session_factory):
            self.bank.restore(device_id, undo)
            self.save(checkpoint)
            labels.restored(session_factory, label_id)
            log.info("withdrawn label %d undone for %s", label_id, device_id)
            done += 1
        return done

    # -- after a crash ----------------------------------------------------------------

    def recover(self, store: Any, metrics_of: Callable[[str], Sequence[str]]) -> int:
        """Replay the store from each device's watermark (readings acked but not judged
        before the last checkpoint); returns how many readings were judged."""
        marks = self.gate.watermarks()
        if not marks:
            return 0
        floor, judged = min(marks.values()), 0
        for device_id in sorted(marks):
            rows: dict[float, dict[str, float]] = {}
            for metric in metrics_of(device_id):
                for ts, value in store.query(
                    device_id, metric, marks.get(device_id, floor), FAR_FUTURE
                ):
                    rows.setdefault(float(ts), {})[metric] = float(value)
            readings = [Reading(device_id, ts, m) for ts, m in sorted(rows.items())]
            for i in range(0, len(readings), REPLAY_CHUNK):
                before = self.gate.counts.released
                self.feed(readings[i : i + REPLAY_CHUNK])
                judged += self.gate.counts.released - before
        self.counts["replayed"] += judged
        return judged

    def reconcile(self, session_factory: Any) -> int:
        """Journal the events that make open anomalies and open cases agree; returns how
        many. Call with the journal drained (raises if the case DB is unreachable)."""
        with self.lock:
            opened = self.bank.open_anomalies()
            cases = reconcile.open_cases(session_factory)
            events: list[AnomalyEvent] = []
            for (device_id, mode), started_at in sorted(opened.items()):
                ts = self.gate.watermark(device_id)
                if (device_id, mode) in cases or ts is None:
                    continue
                if reconcile.covered(session_factory, device_id, mode, started_at):
                    continue
                event = self.bank.assess(device_id, mode, ts)
                if event is not None:
                    events.append(replace(event, kind="anomaly"))
            for key, case in sorted(cases.items()):
                ts = self.gate.watermark(key[0])
                if case.healthy or key in opened or ts is None:
                    continue
                events.append(case.recovery(ts))
            self.journal.append(events)
        self.counts["reconciled"] += len(events)
        return len(events)


def _transient(exc: DBAPIError) -> bool:
    """An outage (connection lost, database locked or shutting down), not a bad event."""
    return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)


def metrics_for(
    directory: Callable[[str], str | None], profiles: Mapping[str, DeviceProfile]
) -> Callable[[str], list[str]]:
    """device id -> the metrics its profile names (none for an unknown device)."""

    def metrics(device_id: str) -> list[str]:
        profile = profiles.get(directory(device_id) or "")
        return sorted(profile.metrics) if profile else []

    return metrics
