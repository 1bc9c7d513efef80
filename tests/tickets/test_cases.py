"""Cases from anomaly events: open, update, lifecycle, maintenance, auto-resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kizuki.config import Settings
from tests.tickets.conftest import T0, FakeClock
from tickets.dispatcher import Dispatcher
from tickets.models import Case, CaseEvent, Customer, MaintenanceWindow, Notification
from tickets.registry import MaintenanceError, schedule_maintenance
from tickets.service import CaseNotFound, CaseService, InvalidTransition, UnknownAgent


@pytest.fixture
def service(fleet: sessionmaker[Session], profiles, settings: Settings, clock: FakeClock):
    return CaseService(fleet, profiles, settings, clock=clock)


def timeline(factory: sessionmaker[Session], case_id: int) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def notices(factory: sessionmaker[Session], case_id: int) -> list[str]:
    with factory() as session:
        return list(
            session.scalars(
                select(Notification.kind)
                .where(Notification.case_id == case_id)
                .order_by(Notification.id)
            )
        )


def test_anomaly_opens_a_routed_case_with_a_detected_notice(service, fleet, event, clock):
    outcome = service.handle(event(severity="high", failure_mode="refrigerant_leak"))
    assert outcome.action == "opened"
    with fleet() as session:
        case = session.get_one(Case, outcome.case_id)
        assert case.status == "open"
        assert case.severity == "high" and case.priority == 2
        assert case.sla_due_at == clock.now + timedelta(hours=24)
        assert case.opened_at == clock.now and case.opened_at.tzinfo is not None
        assert case.customer_id == "c-ja" and case.product_line == "air-conditioning"
        assert case.kb_article == "ac-refrigerant-leak"
        assert case.title == "冷媒漏れ (ac-1)"
        assert case.explanation["metric"] == "filter_dp_pa"
        assert case.explanation["text"] == "filter pressure rising"
        # refrigerant work + Japanese: only Haruto Sato qualifies (Emma speaks English)
        assert case.assignee is not None and case.assignee.name == "Haruto Sato"
        assert "least loaded" in case.routing_reason
    assert timeline(fleet, outcome.case_id) == ["opened", "assigned"]
    assert notices(fleet, outcome.case_id) == ["detected"]


def test_repeat_anomaly_updates_the_open_case_and_severity_only_rises(service, fleet, event):
    first = service.handle(event(severity="low"))
    again = service.handle(event(severity="low", at=T0 + timedelta(minutes=1)))
    raised = service.handle(event(severity="high", at=T0 + timedelta(minutes=2)))
    lower = service.handle(event(severity="medium", at=T0 + timedelta(minutes=3)))
    assert [o.action for o in (first, again, raised, lower)] == ["opened", *["updated"] * 3]
    assert {o.case_id for o in (first, again, raised, lower)} == {first.case_id}
    with fleet() as session:
        case = session.get_one(Case, first.case_id)
        assert case.severity == "high" and case.anomaly_count == 4 and case.priority == 2
    assert timeline(fleet, first.case_id) == [
        "opened",
        "assigned",
        "anomaly_again",
        "severity_raised",
        "agent_told",  # the assignee hears of the escalation
        "anomaly_again",
    ]
    assert notices(fleet, first.case_id) == ["detected", "update"]


def test_other_failure_mode_or_device_gets_its_own_case(service, event):
    a = service.handle(event(device_id="ac-1", failure_mode="filter_clog"))
    b = service.handle(event(device_id="ac-1", failure_mode="fan_bearing_wear"))
    c = service.handle(event(device_id="ac-2", failure_mode="filter_clog"))
    assert [o.action for o in (a, b, c)] == ["opened"] * 3
    assert len({a.case_id, b.case_id, c.case_id}) == 3


def test_premium_customer_and_near_eta_raise_priority(service, fleet, event):
    """Priority 1 (most urgent) .. 4: medium is 3; premium -1; noticeable within a day -1."""
    with fleet.begin() as session:
        session.get_one(Customer, "c-en").tier = "premium"
    hours = 3600.0
    cases = {
        "standard, ETA in 3 days": event(device_id="ac-1", severity="medium"),
        "standard, ETA in 6 h": event(
            device_id="wh-1",
            model="waterheater-w2",
            failure_mode="scale_buildup",
            severity="medium",
            eta_in_s=6 * hours,
        ),
        "premium, ETA in 3 days": event(device_id="ac-2", severity="medium"),
        "premium, ETA in 6 h": event(
            device_id="pu-1",
            model="pump-p3",
            failure_mode="bearing_wear",
            severity="medium",
            eta_in_s=6 * hours,
        ),
    }
    ids = {label: service.handle(ev).case_id for label, ev in cases.items()}
    with fleet() as session:
        got = {label: session.get_one(Case, case_id).priority for label, case_id in ids.items()}
    assert got == {
        "standard, ETA in 3 days": 3,
        "standard, ETA in 6 h": 2,
        "premium, ETA in 3 days": 2,
        "premium, ETA in 6 h": 1,
    }


def test_severity_rise_with_a_near_eta_raises_priority(service, fleet, event):
    case_id = service.handle(event(severity="low")).case_id  # 4: low, ETA in 3 days
    later = T0 + timedelta(minutes=1)
    service.handle(event(severity="high", eta_in_s=2 * 3600.0, at=later))  # high 2, ETA near -1
    with fleet() as session:
        assert session.get_one(Case, case_id).priority == 1


def test_repeat_anomaly_keeps_the_first_explanation_next_to_the_latest(service, fleet, event):
    case_id = service.handle(event(observed=131.0)).case_id
    service.handle(event(observed=160.0, severity="high", at=T0 + timedelta(minutes=1)))
    service.handle(event(observed=175.0, at=T0 + timedelta(minutes=2)))
    with fleet() as session:
        case = session.get_one(Case, case_id)
        why, [detected, update] = case.explanation, case.notifications
    assert why["observed"] == 175.0 and why["first"]["observed"] == 131.0
    assert "first" not in why["first"]
    assert "131" in detected.long_body and "160" in update.long_body  # each said what it saw


def test_lifecycle_with_actor_on_the_timeline(service, fleet, event):
    case_id = service.handle(event()).case_id
    service.acknowledge(case_id, "agent:yui")
    service.add_note(case_id, "agent:yui", "called the customer")
    service.start(case_id, "agent:yui")
    resolved = service.resolve(
        case_id, "agent:yui", "repaired_on_site", "filter cleaned", confirm=True
    )
    assert resolved.status == "resolved" and resolved.resolved_at is not None
    closed = service.close(case_id, "agent:yui")
    assert closed.status == "closed" and closed.closed_at is not None
    reopened = service.reopen(case_id, "agent:yui", reason="customer called back")
    assert reopened.status == "open" and reopened.resolved_at is None
    assert timeline(fleet, case_id)[2:] == [
        "acknowledge",
        "note",
        "start",
        "resolve",
        "close",
        "reopen",
    ]
    with fleet() as session:
        actors = set(session.scalars(select(CaseEvent.actor).where(CaseEvent.case_id == case_id)))
    assert actors == {"kizuki", "agent:yui"}
    assert notices(fleet, case_id) == ["detected", "all_clear"]


def test_invalid_transitions_raise_clear_errors(service, event):
    case_id = service.handle(event()).case_id
    with pytest.raises(InvalidTransition, match="cannot close case .* it is open"):
        service.close(case_id, "agent:x")
    service.resolve(case_id, "agent:x", "duplicate", "same as another case")
    with pytest.raises(InvalidTransition, match="cannot acknowledge"):
        service.acknowledge(case_id, "agent:x")
    with pytest.raises(CaseNotFound):
        service.start(999_999, "agent:x")
    service.reopen(case_id, "agent:x")
    with pytest.raises(UnknownAgent, match="no active agent with id 999999"):
        service.assign(case_id, 999_999, "agent:x")


def test_reopen_refused_while_a_newer_case_is_open(service, event):
    old = service.handle(event()).case_id
    service.resolve(old, "agent:x", "duplicate", "same as another case")
    new = service.handle(event(at=T0 + timedelta(days=2))).case_id  # past the reopen window
    assert new != old
    message = f"device ac-1 already has an open case #{new} for failure mode filter_clog"
    with pytest.raises(InvalidTransition, match=message):
        service.reopen(old, "agent:x")


def test_manual_assign_and_unassign(service, fleet, event):
    case_id = service.handle(
        event(device_id="pu-1", model="pump-p3", failure_mode="bearing_wear")
    ).case_id
    with fleet() as session:
        before = session.get_one(Case, case_id).assignee_id
    case = service.assign(case_id, None, "admin:root")
    assert case.assignee_id is None and case.routing_reason == "unassigned by admin:root"
    case = service.assign(case_id, before, "admin:root")
    assert case.assignee_id == before
    assert timeline(fleet, case_id)[-2:] == ["unassigned", "assigned"]


def test_suppressing_maintenance_window_opens_no_case(service, fleet, event, clock):
    hour = timedelta(hours=1)
    schedule_maintenance(fleet, "ac-1", T0 - hour, T0 + hour, "suppress", "technician on site")
    outcome = service.handle(event(at=T0))
    assert outcome.action == "suppressed" and "technician on site" in outcome.detail
    after = service.handle(event(at=T0 + timedelta(hours=2)))
    assert after.action == "opened"


def test_quiet_maintenance_window_opens_a_case_without_telling_the_customer(service, fleet, event):
    with fleet.begin() as session:
        session.add(
            MaintenanceWindow(
                device_id="ac-1",
                starts_at=T0 - timedelta(hours=1),
                ends_at=T0 + timedelta(hours=1),
                mode="quiet",
            )
        )
    outcome = service.handle(event(at=T0))
    assert outcome.action == "opened"
    with fleet() as session:
        assert session.get_one(Case, outcome.case_id).quiet is True
    assert notices(fleet, outcome.case_id) == []


def test_suppress_window_still_updates_an_open_case_without_telling_the_customer(
    service, fleet, event
):
    case_id = service.handle(event(at=T0, severity="low")).case_id
    hour = timedelta(hours=1)
    schedule_maintenance(fleet, "ac-1", T0 + hour, T0 + 3 * hour, "suppress", "on site")
    outcome = service.handle(event(at=T0 + 2 * hour, severity="high"))
    assert (outcome.action, outcome.case_id) == ("updated", case_id)
    assert "maintenance window" in outcome.detail
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert case.severity == "high" and case.anomaly_count == 2
    assert timeline(fleet, case_id)[-2:] == ["severity_raised", "agent_told"]
    assert notices(fleet, case_id) == ["detected"]  # no "update" during maintenance


def test_quiet_case_is_announced_once_the_window_has_ended(service, fleet, event):
    hour = timedelta(hours=1)
    schedule_maintenance(fleet, "ac-1", T0 - hour, T0 + hour, "quiet", "firmware update")
    case_id = service.handle(event(at=T0, severity="low")).case_id
    service.handle(event(at=T0 + hour / 2, severity="high"))  # still in the window
    assert notices(fleet, case_id) == []
    service.handle(event(at=T0 + 2 * hour, severity="high"))  # the problem outlived it
    assert notices(fleet, case_id) == ["detected"]
    service.handle(event(at=T0 + 3 * hour, severity="critical"))
    assert notices(fleet, case_id) == ["detected", "update"]


def test_quiet_case_resolved_unannounced_sends_no_all_clear(service, fleet, settings, event, clock):
    hour = timedelta(hours=1)
    schedule_maintenance(fleet, "ac-1", T0 - hour, T0 + hour, "quiet", "firmware update")
    case_id = service.handle(event(at=T0)).case_id
    service.handle(event(kind="recovery", at=T0 + hour / 2))
    assert service.tick(T0 + 2 * hour) == [case_id]  # after the window
    clock.now = T0 + 2 * hour
    assert Dispatcher(fleet, settings, clock=clock).run_once() == 1
    with fleet() as session:
        [row] = session.scalars(select(Notification).where(Notification.case_id == case_id))
    assert (row.kind, row.status) == ("all_clear", "skipped")
    assert "never told" in row.last_error


def test_announced_case_resolved_in_a_quiet_window_gets_its_all_clear(
    service, fleet, settings, event, clock
):
    case_id = service.handle(event(at=T0)).case_id
    dispatcher = Dispatcher(fleet, settings, clock=clock)
    assert dispatcher.run_once() == 1  # "detected" sent
    hour = timedelta(hours=1)
    schedule_maintenance(fleet, "ac-1", T0 + hour, T0 + 4 * hour, "quiet", "filter change")
    service.handle(event(at=T0 + 1.5 * hour))  # in the window: no notice
    service.handle(event(kind="recovery", at=T0 + 1.6 * hour))
    assert service.tick(T0 + 3 * hour) == [case_id]
    clock.now = T0 + 3 * hour
    assert dispatcher.run_once() == 1
    with fleet() as session:
        sent = session.scalars(
            select(Notification.kind).where(
                Notification.case_id == case_id, Notification.status == "sent"
            )
        ).all()
    assert list(sent) == ["detected", "all_clear"]


def test_auto_resolve_after_healthy_period_with_all_clear(service, fleet, event, clock):
    case_id = service.handle(event(at=T0)).case_id
    assert service.handle(event(kind="recovery", at=T0 + timedelta(minutes=10))).action == (
        "recovering"
    )
    assert service.tick(T0 + timedelta(minutes=10 + 59)) == []  # healthy 59 min < 1 h
    assert service.tick((T0 + timedelta(minutes=10 + 61)).timestamp()) == [case_id]
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert case.status == "resolved"
    assert timeline(fleet, case_id)[-2:] == ["recovering", "resolve"]
    assert notices(fleet, case_id) == ["detected", "all_clear"]
    assert service.tick(T0 + timedelta(days=2)) == []  # resolved once


def test_new_anomaly_stops_the_healthy_clock(service, event):
    case_id = service.handle(event(at=T0)).case_id
    service.handle(event(kind="recovery", at=T0 + timedelta(minutes=10)))
    service.handle(event(at=T0 + timedelta(minutes=30)))
    assert service.tick(T0 + timedelta(hours=5)) == []
    service.handle(event(kind="recovery", at=T0 + timedelta(hours=5)))
    assert service.tick(T0 + timedelta(hours=6, minutes=1)) == [case_id]


def test_recovery_without_a_case_is_ignored(service, event):
    assert service.handle(event(kind="recovery")).action == "ignored"


def test_telemetry_snapshot_is_kept_on_the_case(fleet, profiles, settings, clock, event):
    calls = []

    def telemetry(device_id: str, start: float, end: float) -> dict[str, list[list[float]]]:
        calls.append((device_id, start, end))
        return {"filter_dp_pa": [[start, 60.0], [end, 131.0]]}

    service = CaseService(fleet, profiles, settings, clock=clock, telemetry=telemetry)
    ev = event()
    case_id = service.handle(ev).case_id
    service.handle(event())  # the open case keeps its first snapshot; no second query
    assert calls == [("ac-1", ev.started_at - 6 * 3600, ev.ts)]
    with fleet() as session:
        snap = session.get_one(Case, case_id).telemetry
    assert snap["series"]["filter_dp_pa"][1] == [ev.ts, 131.0]


def test_unknown_device_still_gets_a_case_without_customer(service, fleet, event):
    outcome = service.handle(event(device_id="ac-new"))
    assert outcome.action == "opened"
    with fleet() as session:
        case = session.get_one(Case, outcome.case_id)
        assert case.customer_id is None
    assert notices(fleet, outcome.case_id) == []


def test_long_telemetry_is_thinned_and_made_json_safe(fleet, profiles, settings, clock, event):
    import numpy as np

    def telemetry(device_id: str, start: float, end: float):
        return {"fan_rpm": [(start + i, np.float64(1200.0 - i)) for i in range(2000)]}

    service = CaseService(fleet, profiles, settings, clock=clock, telemetry=telemetry)
    case_id = service.handle(event()).case_id
    with fleet() as session:
        points = session.get_one(Case, case_id).telemetry["series"]["fan_rpm"]
    assert 250 <= len(points) <= 500 and points[-1][1] == -799.0


def test_failing_telemetry_does_not_block_the_case(fleet, profiles, settings, clock, event, caplog):
    def telemetry(device_id: str, start: float, end: float):
        raise ConnectionError("store down")

    service = CaseService(fleet, profiles, settings, clock=clock, telemetry=telemetry)
    with caplog.at_level("ERROR"):
        outcome = service.handle(event())
    assert outcome.action == "opened" and "telemetry snapshot" in caplog.text
    with fleet() as session:
        assert session.get_one(Case, outcome.case_id).telemetry == {
            "error": "telemetry unavailable"
        }


def test_bad_maintenance_windows_are_refused(fleet):
    with pytest.raises(MaintenanceError, match="unknown device"):
        schedule_maintenance(fleet, "nope", T0, T0 + timedelta(hours=1))
    with pytest.raises(MaintenanceError, match="end > start"):
        schedule_maintenance(fleet, "ac-1", T0, T0)
    with pytest.raises(MaintenanceError, match="mode"):
        schedule_maintenance(fleet, "ac-1", T0, T0 + timedelta(hours=1), mode="off")
