"""One open case per (device, failure mode) under 8 concurrent writers.

The naive check-then-insert is measured on the same database with the partial unique
index dropped, to show that the index (and INSERT ... ON CONFLICT) is what keeps the
count at one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.cases import OPEN_STATUSES
from tests.tickets.conftest import T0, make_event
from tickets.models import Case
from tickets.service import CaseService, InvalidTransition

WRITERS = 8
KEYS = [
    ("ac-1", "filter_clog"),
    ("ac-1", "refrigerant_leak"),
    ("ac-2", "fan_bearing_wear"),
    ("ac-2", "sensor_fault"),
    ("pu-1", "bearing_wear"),
    ("pu-1", "motor_overload"),
]
MODELS = {"ac": "aircon-x1", "pu": "pump-p3"}


def race(fn: Callable[[str, str], object]) -> None:
    """Run ``fn(device, mode)`` from WRITERS threads at once, for every key."""
    for device, mode in KEYS:
        barrier = threading.Barrier(WRITERS)

        def go(device: str = device, mode: str = mode, barrier: threading.Barrier = barrier):
            barrier.wait()
            return fn(device, mode)

        with ThreadPoolExecutor(WRITERS) as pool:
            for future in [pool.submit(go) for _ in range(WRITERS)]:
                future.result()


def duplicates(factory: sessionmaker[Session]) -> int:
    """Open cases beyond the first, summed over (device, failure mode)."""
    with factory() as session:
        counts = session.execute(
            select(func.count())
            .where(Case.status.in_(OPEN_STATUSES))
            .group_by(Case.device_id, Case.failure_mode)
        ).scalars()
        return sum(count - 1 for count in counts)


def test_eight_concurrent_writers_open_exactly_one_case(fleet, profiles, settings, clock):
    """Eight events per problem at once, each a second apart in telemetry time: one case,
    and whatever the order, it ends holding the newest evidence (an older event that
    loses the race is stale and changes nothing)."""
    service = CaseService(fleet, profiles, settings, clock=clock)
    outcomes: list[str] = []
    counter = iter(range(10**6))
    lock = threading.Lock()

    def handle(device: str, mode: str) -> None:
        with lock:
            n = next(counter) % WRITERS
        ev = make_event(device, mode, model=MODELS[device[:2]], at=T0 + timedelta(seconds=n))
        outcomes.append(service.handle(ev).action)

    race(handle)
    assert duplicates(fleet) == 0
    assert outcomes.count("opened") == len(KEYS)
    assert outcomes.count("opened") + outcomes.count("updated") + outcomes.count("ignored") == (
        len(KEYS) * WRITERS
    )
    with fleet() as session:
        cases = session.scalars(select(Case)).all()
    newest = T0 + timedelta(seconds=WRITERS - 1)
    assert {c.last_anomaly_at for c in cases} == {newest}  # no newer update lost
    assert sum(c.anomaly_count for c in cases) == len(KEYS) + outcomes.count("updated")


def test_one_event_delivered_eight_times_at_once_counts_once(fleet, profiles, settings, clock):
    service = CaseService(fleet, profiles, settings, clock=clock)
    outcomes: list[str] = []

    def handle(device: str, mode: str) -> None:
        ev = make_event(device, mode, model=MODELS[device[:2]], at=T0)
        outcomes.append(service.handle(ev).action)

    race(handle)
    assert sorted(set(outcomes)) == ["ignored", "opened"]
    assert outcomes.count("opened") == len(KEYS)
    with fleet() as session:
        assert set(session.scalars(select(Case.anomaly_count))) == {1}


def test_check_then_insert_without_the_index_duplicates(fleet, record_property):
    """The measurement behind the design: without the index the naive way duplicates."""
    with fleet.begin() as session:
        session.execute(text("DROP INDEX uq_cases_one_open"))

    def naive(device: str, mode: str) -> None:
        with fleet.begin() as session:
            exists = session.scalar(
                select(Case.id).where(
                    Case.device_id == device,
                    Case.failure_mode == mode,
                    Case.status.in_(OPEN_STATUSES),
                )
            )
            if exists is None:
                session.add(
                    Case(
                        device_id=device,
                        model=MODELS[device[:2]],
                        failure_mode=mode,
                        severity="low",
                        priority=4,
                        sla_due_at=T0,
                        title=mode,
                        started_at=T0,
                        last_anomaly_at=T0,
                    )
                )

    race(naive)
    found = duplicates(fleet)
    record_property("naive_duplicates", found)
    print(f"naive check-then-insert: {found} duplicate open cases over {len(KEYS)} races")
    assert found > 0


def test_concurrent_first_events_of_an_unregistered_device(fleet, profiles, settings, clock):
    service = CaseService(fleet, profiles, settings, clock=clock)
    barrier = threading.Barrier(WRITERS)

    def handle(_: int) -> str:
        barrier.wait()
        return service.handle(make_event("ac-unregistered", at=T0)).action

    with ThreadPoolExecutor(WRITERS) as pool:
        actions = list(pool.map(handle, range(WRITERS)))
    assert sorted(actions) == ["ignored"] * (WRITERS - 1) + ["opened"]
    assert duplicates(fleet) == 0


def test_auto_resolve_never_closes_a_case_that_just_fell_ill_again(
    fleet, profiles, settings, clock
):
    """tick() racing handle(): a case is only auto-resolved while it is still healthy."""

    service = CaseService(fleet, profiles, settings, clock=clock)
    stop = threading.Event()
    far_future = T0 + timedelta(days=30)

    def ticker() -> None:
        while not stop.is_set():
            service.tick(far_future)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        for i in range(60):
            at = T0 + timedelta(minutes=i)
            service.handle(make_event("ac-1", kind="anomaly" if i % 2 == 0 else "recovery", at=at))
    finally:
        stop.set()
        thread.join(30)
    service.tick(far_future)  # the last event was a recovery: it resolves now
    with fleet() as session:
        [case] = session.scalars(select(Case)).all()  # recurrences reopen the same case
        kinds = [e.kind for e in case.events]
    assert case.status == "resolved" and case.healthy_since is not None
    healthy = False  # replay the timeline: a resolve only ever follows a recovery
    for kind in kinds:
        if kind in ("opened", "anomaly_again", "severity_raised", "reopen"):
            healthy = False
        elif kind == "recovering":
            healthy = True
        elif kind == "resolve":
            assert healthy, kinds
    assert duplicates(fleet) == 0


def blocked_by(factory: sessionmaker[Session], writer: Session) -> Callable[[], bool]:
    """Whether another backend waits for ``writer``'s transaction (PostgreSQL); on SQLite
    the writer holds the database write lock and the other side simply waits for it."""
    if writer.get_bind().dialect.name != "postgresql":
        return lambda: True
    pid = writer.scalar(text("SELECT pg_backend_pid()"))
    query = text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")

    def check() -> bool:
        with factory() as session:
            return bool(session.scalar(query, {"pid": pid}))

    return check


def test_reopen_racing_a_new_open_case_is_an_invalid_transition(fleet, profiles, settings, clock):
    """The new case is written (not yet committed) after reopen's check could see it: the
    one-open-case index refuses the reopen, reported as InvalidTransition (the API's 409)."""
    service = CaseService(fleet, profiles, settings, clock=clock)
    old = service.handle(make_event("ac-1", at=T0)).case_id
    service.resolve(old, "agent:x", "duplicate", "old case", notify=False)
    writer = fleet()
    new = Case(
        device_id="ac-1",
        model="aircon-x1",
        failure_mode="filter_clog",
        severity="low",
        priority=4,
        sla_due_at=T0,
        title="new",
        started_at=T0,
        last_anomaly_at=T0,
    )
    writer.add(new)
    writer.flush()
    errors: list[BaseException] = []

    def reopen() -> None:
        try:
            service.reopen(old, "agent:x")
        except Exception as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=reopen)
    thread.start()
    waiting, deadline = blocked_by(fleet, writer), time.monotonic() + 10
    while not waiting() and time.monotonic() < deadline:  # poll until reopen is stuck
        time.sleep(0.01)
    writer.commit()
    writer.close()
    thread.join(30)
    [error] = errors
    assert isinstance(error, InvalidTransition), repr(error)
    assert f"device ac-1 already has an open case #{new.id} for failure mode filter_clog" in str(
        error
    )
    assert duplicates(fleet) == 0
