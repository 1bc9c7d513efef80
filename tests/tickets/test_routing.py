"""Routing: least-loaded agent with every needed skill, or unassigned with the reason."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.tickets.conftest import T0, make_event
from tickets.models import Agent, Case, Device
from tickets.routing import Need, route
from tickets.service import CaseService


def add_agents(factory, *specs: dict) -> dict[str, int]:
    with factory.begin() as session:
        agents = [Agent(**spec) for spec in specs]
        session.add_all(agents)
        session.flush()
        return {a.name: a.id for a in agents}


def agent(name: str, capacity: int = 3, **skills) -> dict:
    return {"name": name, "email": f"{name}@example.com", "capacity": capacity,
            "product_lines": ["air-conditioning"], "skills": ["aircon-maintenance"],
            "languages": ["en"], **skills}  # fmt: skip


NEED = Need("air-conditioning", "aircon-maintenance", "en")


def test_least_loaded_skilled_agent_wins(session_factory):
    ids = add_agents(session_factory, agent("ann"), agent("bob"), agent("cho"))
    picks = []
    with session_factory.begin() as session:
        session.add(Device(id="ac-r", model="aircon-x1", product_line="air-conditioning"))
        for n in range(6):  # each new case goes to whoever has the fewest open cases
            decision = route(session, NEED)
            picks.append(decision.agent_id)
            session.add(Case(device_id="ac-r", model="aircon-x1", failure_mode=f"mode-{n}",
                             severity="low", priority=4, sla_due_at=T0, title="t",
                             started_at=T0, last_anomaly_at=T0,
                             assignee_id=decision.agent_id))  # fmt: skip
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


def test_service_routes_by_failure_mode_skill_and_customer_language(fleet, profiles, settings,
                                                                    clock):  # fmt: skip
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
