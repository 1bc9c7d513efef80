"""Routing: least-loaded agent with every needed skill, or unassigned with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.tickets.conftest import T0, make_event
from tickets.models import Agent, Case, CaseEvent, Device
from tickets.routing import Need, route
from tickets.service import CaseService


def add_agents(factory, *specs: dict) -> dict[str, int]:
    with factory.begin() as session:
        agents = [Agent(**spec) for spec in specs]
        session.add_all(agents)
        session.flush()
        return {a.name: a.id for a in agents}


def agent(name: str, capacity: int = 3, **skills) -> dict:
    return {
        "name": name,
        "email": f"{name}@example.com",
        "capacity": capacity,
        "product_lines": ["air-conditioning"],
        "skills": ["aircon-maintenance"],
        "languages": ["en"],
        **skills,
    }


NEED = Need("air-conditioning", "aircon-maintenance", "en")


def test_least_loaded_skilled_agent_wins(session_factory):
    ids = add_agents(session_factory, agent("ann"), agent("bob"), agent("cho"))
    picks = []
    with session_factory.begin() as session:
        session.add(Device(id="ac-r", model="aircon-x1", product_line="air-conditioning"))
        for n in range(6):  # each new case goes to whoever has the fewest open cases
            decision = route(session, NEED)
            picks.append(decision.agent_id)
            session.add(
                Case(
                    device_id="ac-r",
                    model="aircon-x1",
                    failure_mode=f"mode-{n}",
                    severity="low",
                    priority=4,
                    sla_due_at=T0,
                    title="t",
                    started_at=T0,
                    last_anomaly_at=T0,
                    assignee_id=decision.agent_id,
                )
            )
            session.flush()
    assert picks == [ids["ann"], ids["bob"], ids["cho"]] * 2
    assert "least loaded of 3" in decision.reason


@pytest.mark.parametrize(
    ("need", "reason"),
    [
        (Need("pumps", "aircon-maintenance", "en"), "product line 'pumps'"),
        (Need("air-conditioning", "refrigerant-certified", "en"), "skill 'refrigerant-certified'"),
        (Need("air-conditioning", "aircon-maintenance", "ja"), "language 'ja'"),
    ],
)
def test_missing_skill_leaves_the_case_unassigned_with_the_reason(session_factory, need, reason):
    add_agents(session_factory, agent("ann"), agent("bob", active=False, languages=["ja"]))
    with session_factory() as session:
        decision = route(session, need)
    assert decision.agent_id is None and reason in decision.reason


def test_full_agents_and_no_agents(session_factory):
    with session_factory() as session:
        assert route(session, NEED).reason == "no active agents"
    add_agents(session_factory, agent("ann", capacity=0), agent("bob", capacity=0))
    with session_factory() as session:
        decision = route(session, NEED)
    assert decision.agent_id is None
    assert decision.reason == "all 2 skilled agents at capacity (ann, bob)"


def test_service_routes_by_failure_mode_skill_and_customer_language(
    fleet, profiles, settings, clock
):
    service = CaseService(fleet, profiles, settings, clock=clock)
    with fleet.begin() as session:  # only English-speaking pump agents stay active
        session.execute(update(Agent).where(Agent.name == "Kenji Yamamoto").values(active=False))
    pump = service.handle(make_event("pu-1", "bearing_wear", model="pump-p3"))
    heater = service.handle(make_event("wh-1", "scale_buildup", model="waterheater-w2"))
    with fleet() as session:
        pump_case = session.get_one(Case, pump.case_id)
        heater_case = session.get_one(Case, heater.case_id)
        assert pump_case.assignee is not None and pump_case.assignee.name == "Liam Carter"
        assert heater_case.assignee is not None and heater_case.assignee.name == "Yui Tanaka"
    with fleet.begin() as session:
        session.execute(update(Agent).values(active=False))
    orphan = service.handle(make_event("ac-2", "refrigerant_leak"))
    with fleet() as session:
        case = session.get_one(Case, orphan.case_id)
        assert case.assignee_id is None and case.routing_reason == "no active agents"


def assignee(factory, case_id: int) -> str | None:
    with factory() as session:
        case = session.get_one(Case, case_id)
        return case.assignee.name if case.assignee else None


def test_queued_case_goes_to_an_agent_who_joins(fleet, profiles, settings, clock):
    service = CaseService(fleet, profiles, settings, clock=clock)
    with fleet.begin() as session:
        session.execute(update(Agent).values(active=False))
    case_id = service.handle(make_event("ac-2", "filter_clog", at=T0)).case_id
    assert service.tick(T0) == [] and assignee(fleet, case_id) is None
    with fleet.begin() as session:  # Emma (English, air-conditioning) starts her shift
        session.execute(update(Agent).where(Agent.name == "Emma Wilson").values(active=True))
    service.tick(T0 + timedelta(seconds=30))  # re-routing runs once a minute
    assert assignee(fleet, case_id) is None
    service.tick(T0 + timedelta(seconds=61))
    assert assignee(fleet, case_id) == "Emma Wilson"
    with fleet() as session:
        event = session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id.desc())
        ).first()
    assert event is not None and (event.kind, event.actor) == ("assigned", "kizuki")
    assert event.detail["reason"].startswith("from the unassigned queue: least loaded")


def test_queued_cases_go_most_urgent_first_when_an_agent_frees_up(fleet, profiles, settings, clock):
    settings.cases.reroute_every_s = 0.0
    service = CaseService(fleet, profiles, settings, clock=clock)
    with fleet.begin() as session:  # one English pump engineer with room for one case
        session.execute(update(Agent).where(Agent.name != "Liam Carter").values(active=False))
        session.execute(update(Agent).values(capacity=1))
    busy = service.handle(make_event("pu-1", "bearing_wear", model="pump-p3")).case_id
    low = service.handle(make_event("pu-1", "impeller_clog", model="pump-p3")).case_id
    high = service.handle(
        make_event("pu-1", "motor_overload", model="pump-p3", severity="high")
    ).case_id
    assert [assignee(fleet, c) for c in (busy, low, high)] == ["Liam Carter", None, None]
    service.resolve(busy, "agent:liam", "duplicate", "handled elsewhere")
    service.tick(T0)
    assert [assignee(fleet, c) for c in (low, high)] == [None, "Liam Carter"]


def test_a_case_unassigned_by_a_person_stays_in_the_queue(fleet, profiles, settings, clock):
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(make_event("ac-2", "filter_clog", at=T0)).case_id
    service.assign(case_id, None, "admin:root")
    service.tick(T0 + timedelta(hours=1))
    assert assignee(fleet, case_id) is None
