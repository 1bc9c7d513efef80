"""A detection rig over a real case database: store -> gate -> bank -> journal -> cases.

``Rig.deliver(batch)`` does what the ingest writer and sink do for one MQTT batch (commit to
the telemetry store, judge, journal) and then acks; ``Rig.settle()`` hands the journal to
the case service and runs auto-resolve. ``Rig.restart()`` is a kill -9: everything in
memory is dropped, and a new rig starts from what is on disk (the detector checkpoint,
the journal, the store, the case DB), as ``kizuki.engine.Engine.start`` does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from anomaly.bank import BankConfig, DetectorBank
from anomaly.stream import StreamConfig
from core.profiles import DeviceProfile, load_profiles
from core.readings import Reading
from ingest.embedded_store import SqliteStore
from kizuki.detection import Detection, metrics_for
from kizuki.gate import ReadingGate
from kizuki.journal import EventJournal
from tests.tickets.conftest import T0, FakeClock
from tickets.models import AgentNotice, Case, Notification
from tickets.service import CaseService
from tickets.settings import TicketsConfig

STEP = 600.0  # a reading every 10 minutes
DAY = 144
# The rig's streams last a week and their faults start on day 3, so its detectors are
# warm after 2 days; the product's default waits 4 (a weekend inside the warm-up).
WARM_AFTER_2_DAYS = BankConfig(stream=StreamConfig(warmup=2 * DAY))
LATENESS_S = 1800.0
MODELS = {"ac-1": "aircon-x1", "ac-2": "aircon-x1", "pu-1": "pump-p3", "wh-1": "waterheater-w2"}


def stream(days: float = 7.0) -> list[Reading]:
    """ac-1's filter clogs from day 3 and passes its limit on day 6 (escalation); ac-2
    runs 10 h far past its limit on day 3, then recovers (recovery, auto-resolve); the
    pump pu-1 and the water heater wh-1 stay healthy."""
    profiles = load_profiles()
    rngs = {d: random.Random(i) for i, d in enumerate(MODELS)}
    out = []
    for i in range(int(days * DAY)):
        ts = T0.timestamp() + STEP * i
        for device, rng in rngs.items():
            out.append(Reading(device, ts, _values(profiles[MODELS[device]], device, i, ts, rng)))
    return out


def _values(
    profile: DeviceProfile, device: str, i: int, ts: float, rng: random.Random
) -> dict[str, float]:
    if device == "ac-1":
        sev = max(i - 3 * DAY, 0) / (3 * DAY)
    elif device == "ac-2":
        sev = 1.6 if 3 * DAY <= i < 3 * DAY + 60 else 0.0
    else:
        sev = 0.0
    effects = profile.failure_modes["filter_clog"].effects if sev else {}
    metrics = {}
    for name, spec in profile.metrics.items():
        mid = sum(spec.normal) / 2
        cycle = spec.daily_amplitude * math.sin(2 * math.pi * ts / 86400)
        drift = sev * effects.get(name, 0.0) * (spec.limit - mid)
        metrics[name] = mid + cycle + rng.gauss(0, spec.noise) + drift
    return metrics


def batches(readings: list[Reading], size: int = 24) -> list[list[Reading]]:
    return [readings[i : i + size] for i in range(0, len(readings), size)]


def redelivered_and_shuffled(readings: list[Reading], seed: int) -> list[list[Reading]]:
    """Every reading delivered 1-3 times, arriving up to 0.9 x lateness late, in batches
    of random size: what a broker redelivering after reconnects can do."""
    rng = random.Random(seed)
    arrivals = [
        (r.ts + rng.uniform(0, 0.9 * LATENESS_S), n, r)
        for n, r in enumerate(r for r in readings for _ in range(rng.randint(1, 3)))
    ]
    order = [r for _, _, r in sorted(arrivals, key=lambda a: (a[0], a[1]))]
    out, i = [], 0
    while i < len(order):
        size = rng.randint(1, 30)
        out.append(order[i : i + size])
        i += size
    return out


class Crash(Exception):
    """kill -9 at this point."""


@dataclass
class Rig:
    session_factory: sessionmaker[Session]
    profiles: dict[str, DeviceProfile]
    settings: TicketsConfig
    data: Path
    update_every_s: float = 6 * 3600.0
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(self.data / "telemetry.db")
        self.journal = EventJournal(self.data / "journal.db")
        ckpt = self.checkpoint
        directory = MODELS.get
        if ckpt.exists():
            self.bank = DetectorBank.load(ckpt, self.profiles, directory)
        else:
            self.bank = DetectorBank(self.profiles, directory, WARM_AFTER_2_DAYS)
        self.gate = ReadingGate(LATENESS_S)
        self.cases = CaseService(
            self.session_factory,
            self.profiles,
            self.settings,
            clock=self.clock,
            evidence=self.gate.watermark,
        )
        self.detection = Detection(
            self.bank, self.gate, self.journal, self.cases.handle, self.update_every_s
        )
        self.detection.recover(self.store, metrics_for(directory, self.profiles))
        self.settle()
        self.detection.reconcile(self.session_factory)
        self.settle()

    @property
    def checkpoint(self) -> Path:
        return self.data / "detectors.ckpt"

    def deliver(self, batch: list[Reading]) -> None:
        """Commit, judge and journal one batch (then it would be acked)."""
        self.store.write(batch)
        self.detection.feed(batch)

    def settle(self) -> None:
        self.detection.drain()
        self.cases.tick()

    def save(self) -> None:
        self.detection.save(self.checkpoint)

    def restart(self) -> Rig:
        """kill -9 and start again from disk."""
        self.store.close()
        self.journal.close()
        return Rig(
            self.session_factory,
            self.profiles,
            self.settings,
            self.data,
            self.update_every_s,
            self.clock,
        )


def outcome(factory: sessionmaker[Session]) -> tuple[list[Any], ...]:
    """What agents and customers were told: the cases (device, mode, status, severity,
    resolution), the notices (device, kind, subject without the case number), the
    escalations and limit crossings (telemetry time, severity), the numbers each case
    shows now (the explanation's time, observed value and ETA interval), who holds each
    case and what each agent was told (agent, kind)."""
    with factory() as session:
        rows = session.scalars(select(Case).order_by(Case.device_id, Case.id)).all()
        cases = [
            (c.device_id, c.failure_mode, c.status, c.severity, c.resolution_code or "")
            for c in rows
        ]
        history = [
            (c.device_id, e.kind, e.detail.get("at"), e.detail.get("severity_to"))
            for c in rows
            for e in c.events
            if e.kind in ("escalated", "limit_crossed")
        ]
        numbers = [
            (
                c.device_id,
                c.explanation.get("at"),
                c.explanation.get("observed"),
                c.explanation.get("eta_range"),
                c.assignee.name if c.assignee else None,
            )
            for c in rows
        ]
        told = [
            (n.case.device_id, n.agent.name, n.kind)
            for n in session.scalars(select(AgentNotice).order_by(AgentNotice.id))
        ]
        notices = [
            (n.case.device_id, n.kind, n.subject.split("] ", 1)[-1])
            for n in session.scalars(select(Notification).order_by(Notification.id))
        ]
    return cases, sorted(notices), history, numbers, sorted(told)


def run(rig: Rig, deliveries: Iterator[list[Reading]] | list[list[Reading]]) -> Rig:
    for batch in deliveries:
        rig.deliver(batch)
        rig.settle()
    rig.detection.feed([])  # nothing new: the gate keeps what it holds (as on shutdown)
    return rig
