"""Findings 1, 2, 6 and 7 of issue 13, through the detection path the engine runs:
no lost detections (outages, kill -9 at each step), duplicates and late data that change
nothing, what a false alarm teaches the detectors and withdrawing it, bounded memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.exc import OperationalError

from core.readings import Reading
from tests.tickets.conftest import MANIFEST
from tests.truth.proxy import TcpProxy
from tests.truth.rig import (
    LATENESS_S,
    Crash,
    Rig,
    batches,
    outcome,
    redelivered_and_shuffled,
    run,
    stream,
)
from tickets.db import make_engine, make_session_factory, migrate
from tickets.models import AgentNotice, Case, CaseEvent, DetectorLabel, Notification
from tickets.registry import import_manifest
from tickets.service import CaseService

CLEAN_CASES = [
    ("ac-1", "filter_clog", "open", "high", ""),
    ("ac-2", "filter_clog", "resolved", "high", "recovered"),
]


def wipe(factory) -> None:
    with factory.begin() as session:
        for table in (AgentNotice, Notification, CaseEvent, DetectorLabel, Case):
            session.execute(delete(table))


def seen_by_detectors(rig: Rig) -> list[tuple[str, float]]:
    """Record every (device, ts) the detector bank is given from now on."""
    seen: list[tuple[str, float]] = []
    update = rig.bank.update

    def spy(readings):
        seen.extend((r.device_id, r.ts) for r in readings)
        return update(readings)

    rig.bank.update = spy  # type: ignore[method-assign]
    return seen


_CLEAN: dict[str, object] = {}


@pytest.fixture
def clean(fleet, profiles, settings, tmp_path, db_url):
    """The outcome of the clean stream, delivered once and in order (once per backend)."""
    backend = db_url.split(":", 1)[0]
    if backend not in _CLEAN:
        run(Rig(fleet, profiles, settings, tmp_path / "clean"), batches(stream()))
        _CLEAN[backend] = outcome(fleet)
        wipe(fleet)
    return _CLEAN[backend]


def test_the_clean_stream_opens_two_cases_escalates_and_resolves_one(clean):
    cases, notices, history, numbers, told = clean
    assert cases == CLEAN_CASES
    assert [(device, kind) for device, kind, _ in notices] == [
        ("ac-1", "detected"),
        ("ac-1", "update"),
        ("ac-2", "all_clear"),
        ("ac-2", "detected"),
        ("ac-2", "update"),
    ]
    assert [(d, k, sev) for d, k, _at, sev in history] == [
        ("ac-1", "escalated", "medium"),
        ("ac-1", "limit_crossed", None),
        ("ac-1", "escalated", "high"),
        ("ac-2", "limit_crossed", None),
        ("ac-2", "escalated", "high"),
    ]
    # each escalation reaches the assignee (high needs no higher tier: nobody re-routed)
    holders = {device: agent for device, _at, _obs, _eta, agent in numbers}
    assert sorted(told) == sorted(
        (d, holders[d], "escalated") for d, k, _at, _sev in history if k == "escalated"
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_redelivered_and_shuffled_stream_gives_the_same_cases_and_notices(
    clean, fleet, profiles, settings, tmp_path, seed
):
    """Finding 2: every reading 1-3 times, up to 0.9 x lateness out of order."""
    rig = Rig(fleet, profiles, settings, tmp_path / "replayed")
    seen = seen_by_detectors(rig)
    run(rig, redelivered_and_shuffled(stream(), seed))
    assert outcome(fleet) == clean
    assert len(seen) == len(set(seen)), "a reading reached the detectors twice"
    for device in {d for d, _ in seen}:
        times = [ts for d, ts in seen if d == device]
        assert times == sorted(times), f"{device}: readings reached the detectors out of order"
    assert rig.gate.counts.duplicates > len(stream()) // 2


def test_readings_later_than_the_lateness_are_skipped_and_counted(
    fleet, profiles, settings, tmp_path
):
    rig = Rig(fleet, profiles, settings, tmp_path / "late")
    readings = stream(days=0.5)
    rig.deliver(readings)
    too_late = Reading("ac-1", readings[0].ts, {"filter_dp_pa": 999.0})
    again = readings[-1]
    rig.deliver([too_late, again])  # older than what was judged; a copy of one held
    assert (rig.gate.counts.late, rig.gate.counts.duplicates) == (1, 1)
    assert rig.gate.watermark("ac-1") < again.ts, "the newest readings are still held"
    rig.deliver([Reading("ac-1", again.ts + 2 * LATENESS_S, dict(again.metrics))])
    assert rig.gate.watermark("ac-1") == again.ts
    rig.deliver([again])
    assert (rig.gate.counts.late, rig.gate.counts.duplicates) == (1, 2)


def _locked_sqlite(db_url: str):
    """A session factory whose SQLite busy wait is short, and a way to lock the DB."""
    engine = make_engine(db_url)
    event.listen(engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=50"))
    path = db_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def lock() -> None:
        holder.execute("BEGIN EXCLUSIVE")

    def unlock() -> None:
        holder.execute("COMMIT")

    return make_session_factory(engine), lock, unlock


def _stopped_postgres(db_url: str):
    """A session factory that reaches PostgreSQL through a proxy we can stop."""
    proxy = TcpProxy("127.0.0.1", 5432)
    proxy.start()
    url = db_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    return make_session_factory(engine), proxy.stop, proxy.start


def test_a_case_database_outage_mid_stream_loses_no_detection(
    clean, fleet, profiles, settings, tmp_path, db_url
):
    """Finding 1: the case DB goes away (SQLite locked, PostgreSQL stopped) while the
    degradations are detected; readings are acked all along; nothing is lost."""
    if db_url.startswith("sqlite"):
        factory, down, up = _locked_sqlite(db_url)
    else:
        assert "127.0.0.1:5432" in db_url
        factory, down, up = _stopped_postgres(db_url)
    rig = Rig(factory, profiles, settings, tmp_path / "outage")
    deliveries = batches(stream())
    outage = range(len(deliveries) // 3, 2 * len(deliveries) // 3)  # both anomalies in it
    for n, batch in enumerate(deliveries):
        if n == outage.start:
            down()
        if n == outage.stop:
            up()
        rig.deliver(batch)  # then acked: the events are in the journal
        if n not in outage:
            rig.settle()
        elif n % 8 == 0:
            rig.detection.drain()  # the hand-over thread retries
    assert rig.detection.counts["case_retries"] > 0, "the outage was felt"
    assert rig.detection.counts["case_errors"] == 0
    assert rig.journal.counts() == {"pending": 0, "failed": 0}
    assert outcome(fleet) == clean
    factory.kw["bind"].dispose()


def test_without_the_journal_an_outage_loses_the_detection(profiles, settings, tmp_path):
    """What finding 1 was: handing events straight to the case service while the DB is
    down loses them (the old engine's path, kept as the baseline; SQLite is enough)."""
    db_url = f"sqlite:///{tmp_path / 'baseline.db'}"
    migrate(db_url)
    factory, down, up = _locked_sqlite(db_url)
    import_manifest(factory, MANIFEST)
    rig = Rig(factory, profiles, settings, tmp_path / "baseline")
    service = CaseService(factory, profiles, settings, clock=rig.clock)
    lost = 0
    down()
    for batch in batches(stream(days=4.0)):
        for ev in rig.bank.update(rig.gate.push(batch)):
            try:
                service.handle(ev)
            except OperationalError:
                lost += 1
    up()
    assert lost > 0
    with factory() as session:
        assert session.scalars(select(Case)).all() == []
    factory.kw["bind"].dispose()


CRASH_POINTS = ["before_journal", "before_ack", "after_ack", "after_case_commit"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_at_each_step_gives_the_same_cases_and_notices(
    clean, fleet, profiles, settings, tmp_path, point
):
    """Finding 1, the crash matrix: the engine dies (all memory lost) at ``point`` of
    every 12th delivery; the broker redelivers what was not acked; checkpoints are
    written every 20 deliveries. The outcome is the clean stream's."""
    rig = Rig(fleet, profiles, settings, tmp_path / "crash")
    deliveries, crashes = batches(stream()), 0
    for n, batch in enumerate(deliveries):
        if n % 20 == 19:
            rig.save()
        if n % 12 != 11:
            rig.deliver(batch)
            rig.settle()
            continue
        rig, redeliver = _crash(rig, batch, point)
        crashes += 1
        if redeliver:
            rig.deliver(batch)
        rig.settle()
    assert crashes == len(deliveries) // 12
    assert outcome(fleet) == clean


def _crash(rig: Rig, batch: list[Reading], point: str) -> tuple[Rig, bool]:
    """Run one delivery into a crash at ``point``; the restarted rig, and whether the
    broker redelivers the batch (it was not acked)."""
    if point == "before_journal":
        rig.journal.append = _crash_now  # type: ignore[method-assign]
        with pytest.raises(Crash):
            rig.deliver(batch)
        return rig.restart(), True
    rig.deliver(batch)
    if point == "before_ack":
        return rig.restart(), True
    if point == "after_case_commit" and rig.journal.counts()["pending"]:
        rig.journal.done = _crash_now  # type: ignore[method-assign]
        with pytest.raises(Crash):
            rig.detection.drain()
    return rig.restart(), False


def _crash_now(*args: object) -> None:
    raise Crash()


def test_reconciliation_opens_the_case_a_lost_event_never_opened(
    fleet, profiles, settings, tmp_path
):
    """The journal file is lost with the events in it (disk replaced, say): the detectors
    know ac-1's failure mode is open, the case DB does not; start-up makes them agree.
    (ac-2's anomaly opened and recovered inside the lost journal: nothing is open to
    reconcile, so that one stays lost; the journal is what keeps it.)"""
    rig = Rig(fleet, profiles, settings, tmp_path / "lost")
    readings = stream(days=5.0)
    for batch in batches(readings):
        rig.store.write(batch)
        rig.detection.feed(batch)  # never drained
    rig.save()
    rig.journal.close()
    for lost in (tmp_path / "lost").glob("journal.db*"):
        lost.unlink()
    rig = rig.restart()
    assert rig.detection.counts["reconciled"] == 1
    cases, notices, _history, _numbers, _told = outcome(fleet)
    assert [(d, m, s) for d, m, s, _sev, _r in cases] == [("ac-1", "filter_clog", "open")]
    assert [(d, k) for d, k, _ in notices] == [("ac-1", "detected")]
    assert rig.detection.reconcile(fleet) == 0, "a second pass finds nothing"


def test_an_agents_false_alarm_teaches_the_detectors_and_withdrawing_it_undoes_it(
    fleet, profiles, settings, tmp_path
):
    """Finding 6: only the agent's "false alarm" resolution changes the detectors, and
    reopening the case puts them back as they were."""
    rig = Rig(fleet, profiles, settings, tmp_path / "labels")
    run(rig, batches(stream(days=4.0)))
    with fleet() as session:
        case = session.scalars(select(Case).where(Case.device_id == "ac-1")).one()
    block = rig.bank.models["aircon-x1"].blocks["filter_dp_pa"]
    row = rig.bank.models["aircon-x1"].slots["filter_dp_pa"]["ac-1"]
    before = block.F[row].copy()
    assert rig.detection.learn(fleet, rig.checkpoint) == 0, "nothing to learn yet"
    rig.cases.resolve(case.id, "agent:yui", "false_alarm", "new filter type reads higher")
    assert rig.detection.learn(fleet, rig.checkpoint) == 1
    assert not (block.F[row] == before).all(), "the detectors took the level as normal"
    rig.cases.reopen(case.id, "agent:yui", "it is a clog after all")
    assert rig.detection.learn(fleet, rig.checkpoint) == 1
    assert ((block.F[row] == before) | (block.F[row] != block.F[row])).all()
    with fleet() as session:
        [label] = session.scalars(select(DetectorLabel)).all()
        assert (label.source, label.withdrawn_at is not None, label.restored_at is not None) == (
            "agent",
            True,
            True,
        )


def test_memory_stays_bounded(fleet, profiles, settings, tmp_path):
    """Finding 7: the gate holds at most ``lateness`` (or ``max_held``) per device, the
    grid clock one time per device; no event history is kept."""
    rig = Rig(fleet, profiles, settings, tmp_path / "memory")
    rig.gate.max_held = 5
    per_device = int(LATENESS_S // 600) + 1
    for batch in batches(stream(days=4.0)):
        rig.deliver(batch)
        assert rig.gate.held() <= len({r.device_id for r in batch}) * min(per_device, 5)
    assert set(rig.detection._judged) == set(rig.gate.watermarks())  # one entry per device
    assert not any(isinstance(v, list) for v in vars(rig.detection).values())


def test_the_engine_keeps_no_event_list():
    from kizuki.engine import Engine, EngineCounters

    assert "events" not in Engine.__init__.__code__.co_names
    assert set(EngineCounters.__dataclass_fields__) >= {"first_anomaly"}


def test_checkpoint_path_is_where_the_rig_saves(tmp_path: Path, fleet, profiles, settings):
    rig = Rig(fleet, profiles, settings, tmp_path / "ckpt")
    rig.deliver(stream(days=0.2))
    rig.save()
    assert rig.checkpoint.exists()
    restarted = rig.restart()
    assert restarted.gate.watermarks() == rig.gate.watermarks()
