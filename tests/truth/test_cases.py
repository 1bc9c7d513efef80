"""Findings 3, 4 and 5 of issue 13 at the case service: late data that changes nothing,
auto-resolve on telemetry time, reopen within a window, living cases that escalate,
and resolutions that tell the customer the truth."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.tickets.conftest import T0, make_event
from tickets.models import Case, DetectorLabel, Notification
from tickets.service import CaseService, InvalidResolution, InvalidTransition, NeedsConfirmation

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


class Evidence:
    """Telemetry time of each device's newest judged reading (the engine's gate)."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def __call__(self, device_id: str) -> float | None:
        return self.at.get(device_id)


@pytest.fixture
def evidence() -> Evidence:
    return Evidence()


@pytest.fixture
def service(fleet, profiles, settings, clock, evidence) -> CaseService:
    return CaseService(fleet, profiles, settings, clock=clock, evidence=evidence)


def notices(factory, case_id: int) -> list[tuple[str, str]]:
    with factory() as session:
        rows = session.scalars(
            select(Notification).where(Notification.case_id == case_id).order_by(Notification.id)
        )
        return [(n.kind, n.subject) for n in rows]


def kinds(factory, case_id: int) -> list[str]:
    with factory() as session:
        return [e.kind for e in session.get_one(Case, case_id).events]


def update_event(at, severity="low", observed=140.0, breached=False, eta_in_s=3 * 86400):
    base = make_event(kind="update", at=at, severity=severity, observed=observed, eta_in_s=eta_in_s)
    return dataclasses.replace(base, extra={"breached": breached})


# -- finding 3: late data, one clock per question ------------------------------------


def test_a_recovery_stamped_before_the_last_anomaly_changes_nothing(service, fleet, evidence):
    case_id = service.handle(make_event(at=T0)).case_id
    service.handle(make_event(at=T0 + 10 * MIN))
    late = service.handle(make_event(kind="recovery", at=T0 + 5 * MIN))
    assert late.action == "ignored"
    evidence.at["ac-1"] = (T0 + 30 * HOUR).timestamp()
    assert service.tick() == []
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.healthy_since) == ("open", None)
    assert [k for k, _ in notices(fleet, case_id)] == ["detected"]


def test_replayed_events_change_nothing(service, fleet):
    first = service.handle(make_event(at=T0))
    again = service.handle(make_event(at=T0))
    older = service.handle(make_event(at=T0 - MIN, severity="critical"))
    assert [o.action for o in (first, again, older)] == ["opened", "ignored", "ignored"]
    with fleet() as session:
        case = session.get_one(Case, first.case_id)
        assert (case.anomaly_count, case.severity) == (1, "low")


def test_auto_resolve_waits_for_healthy_telemetry_not_the_server_clock(
    service, fleet, clock, evidence
):
    case_id = service.handle(make_event(at=T0)).case_id
    service.handle(make_event(kind="recovery", at=T0 + HOUR))
    clock.advance(48 * 3600)  # the server's day moves on; the device sent nothing
    assert service.tick() == [], "no healthy evidence yet"
    evidence.at["ac-1"] = (T0 + 1.9 * HOUR).timestamp()
    assert service.tick() == [], "healthy for 54 min of telemetry: not yet (needs 1 h)"
    evidence.at["ac-1"] = (T0 + 2 * HOUR).timestamp()
    assert service.tick() == [case_id]
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.resolution_code) == ("resolved", "recovered")
        [resolve] = [e for e in case.events if e.kind == "resolve"]
        assert resolve.detail["healthy_for_s"] == 3600.0


def test_a_recurrence_soon_after_resolution_reopens_the_same_case(service, fleet, evidence):
    case_id = service.handle(make_event(at=T0)).case_id
    service.handle(make_event(kind="recovery", at=T0 + HOUR))
    evidence.at["ac-1"] = (T0 + 3 * HOUR).timestamp()
    assert service.tick() == [case_id]
    again = service.handle(make_event(at=T0 + 4 * HOUR))
    assert (again.action, again.case_id) == ("reopened", case_id)
    assert [k for k, _ in notices(fleet, case_id)] == ["detected", "all_clear", "detected"]
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert (case.status, case.resolution_code, case.healthy_since) == ("open", None, None)
    # past the window (24 h of telemetry after its last anomaly) it is a new problem
    service.handle(make_event(kind="recovery", at=T0 + 5 * HOUR))
    evidence.at["ac-1"] = (T0 + 7 * HOUR).timestamp()
    service.tick()
    later = service.handle(make_event(at=T0 + 30 * HOUR))
    assert later.action == "opened" and later.case_id != case_id


# -- finding 4: living cases ---------------------------------------------------------


def test_an_open_case_follows_the_newest_evidence_and_escalates(service, fleet):
    case_id = service.handle(make_event(at=T0, observed=131.0)).case_id
    quiet = service.handle(update_event(T0 + HOUR, observed=140.0))
    assert (quiet.action, quiet.detail) == ("updated", "")
    near = service.handle(update_event(T0 + 2 * HOUR, "medium", 146.0, eta_in_s=3600))
    past = service.handle(update_event(T0 + 3 * HOUR, "medium", 162.0, breached=True))
    stale = service.handle(update_event(T0 + 2.5 * HOUR, "critical", 170.0, breached=True))
    assert [o.detail for o in (near, past)] == ["escalated", "escalated"]
    assert stale.action == "ignored"
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert case.severity == "high", "past the limit: at least high"
        assert case.explanation["observed"] == 162.0 and case.explanation["breached"] is True
        assert case.explanation["first"]["observed"] == 131.0
        escalations = [
            (e.detail["severity_from"], e.detail["severity_to"], e.detail["reason"])
            for e in case.events
            if e.kind == "escalated"
        ]
    assert escalations == [
        ("low", "medium", "limit expected within a day"),
        ("medium", "high", "past the limit"),
    ]
    assert "limit_crossed" in kinds(fleet, case_id)
    # medium changes nothing the customer should do; high does (cases.update_customer_on)
    assert [k for k, _ in notices(fleet, case_id)] == ["detected", "update"]


def test_customer_updates_are_rate_limited(fleet, profiles, settings, clock):
    cases = settings.cases.model_copy(update={"update_min_interval_s": 6 * 3600.0})
    service = CaseService(fleet, profiles, dataclasses.replace(settings, cases=cases), clock=clock)
    case_id = service.handle(make_event(at=T0)).case_id
    clock.advance(7 * 3600)
    service.handle(update_event(T0 + HOUR, "high", breached=True))
    clock.advance(600)
    service.handle(update_event(T0 + 2 * HOUR, "critical", breached=True))
    assert [k for k, _ in notices(fleet, case_id)] == ["detected", "update"]
    assert kinds(fleet, case_id).count("escalated") == 2, "the agent sees both"


# -- finding 5: resolution with the truth --------------------------------------------


def test_resolving_as_fixed_while_out_of_range_needs_confirming_and_says_so(service, fleet):
    case_id = service.handle(make_event(device_id="ac-2", at=T0)).case_id
    service.acknowledge(case_id, "agent:yui")
    service.start(case_id, "agent:yui")
    with pytest.raises(NeedsConfirmation, match="still out of range"):
        service.resolve(case_id, "agent:yui", "repaired_on_site", "filter replaced")
    service.resolve(case_id, "agent:yui", "repaired_on_site", "filter replaced", confirm=True)
    [_detected, (kind, subject)] = notices(fleet, case_id)
    assert kind == "all_clear" and "We have fixed it and are watching" in subject
    with fleet() as session:
        case = session.get_one(Case, case_id)
        body = case.notifications[-1].long_body
        assert "running normally" not in body and "No action is needed." not in body
        assert (case.resolution_code, case.resolution_note) == (
            "repaired_on_site",
            "filter replaced",
        )
        [resolve] = [e for e in case.events if e.kind == "resolve"]
        assert resolve.detail["device_out_of_range"] is True


def test_resolving_after_the_device_recovered_is_an_all_clear(service, fleet):
    case_id = service.handle(make_event(device_id="ac-2", at=T0)).case_id
    service.handle(make_event(device_id="ac-2", kind="recovery", at=T0 + HOUR))
    service.resolve(case_id, "agent:yui", "remote_fix", "reset the controller")
    assert (
        notices(fleet, case_id)[-1][1].startswith("[Case #")
        and "All clear" in (notices(fleet, case_id)[-1][1])
    )


@pytest.mark.parametrize(
    ("code", "subject"),
    [
        ("false_alarm", "False alarm"),
        ("customer_declined", "We have closed the case as you asked"),
        ("part_shipped", "A replacement part is on its way"),
        ("duplicate", None),
    ],
)
def test_each_resolution_code_tells_the_customer_its_own_truth(service, fleet, code, subject):
    case_id = service.handle(make_event(device_id="ac-2", at=T0)).case_id
    service.resolve(case_id, "agent:yui", code, "see the call notes")
    sent = notices(fleet, case_id)
    if subject is None:
        assert [k for k, _ in sent] == ["detected"], "another case speaks to the customer"
    else:
        assert sent[-1][0] == "all_clear" and subject in sent[-1][1]
    with fleet() as session:
        labels = session.scalars(select(DetectorLabel)).all()
    assert [(lb.source, lb.label) for lb in labels] == (
        [("agent", "false_positive")] if code == "false_alarm" else []
    )


def test_a_resolution_needs_a_known_code_and_a_note(service):
    case_id = service.handle(make_event(at=T0)).case_id
    with pytest.raises(InvalidResolution, match="unknown resolution code 'fixed'"):
        service.resolve(case_id, "agent:yui", "fixed", "done")
    with pytest.raises(InvalidResolution, match="needs a note"):
        service.resolve(case_id, "agent:yui", "duplicate", "  ")


def test_reopening_a_false_alarm_withdraws_its_label(service, fleet):
    case_id = service.handle(make_event(at=T0)).case_id
    service.resolve(case_id, "agent:yui", "false_alarm", "new filter type reads higher")
    service.reopen(case_id, "agent:yui", "customer called: it is clogged")
    with fleet() as session:
        [label] = session.scalars(select(DetectorLabel)).all()
        case = session.get_one(Case, case_id)
    assert label.withdrawn_at is not None
    assert (case.status, case.resolution_code) == ("open", None)
    assert "label_withdrawn" in kinds(fleet, case_id)


def test_an_agent_reviews_a_customers_disagreement(service, fleet, settings):
    from tickets.feedback import record_feedback

    case_id = service.handle(make_event(at=T0)).case_id
    with pytest.raises(InvalidTransition, match="no customer feedback to review"):
        service.review(case_id, "agent:yui", "nothing to see")
    with fleet() as session:
        token = session.scalars(select(Notification.feedback_token)).one()
    record_feedback(fleet, token, "down", "it works fine", settings=settings)
    service.review(case_id, "agent:yui", "called: the noise is real, visit booked")
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert (case.review_state, case.status) == (None, "open")
    assert kinds(fleet, case_id)[-2:] == ["customer_disagrees", "reviewed"]


def test_the_chart_marks_when_the_case_opened_and_each_escalation(service, fleet):
    from api.case_chart import marks
    from api.chart import ChartSpec, render_chart

    case_id = service.handle(make_event(at=T0)).case_id
    service.handle(update_event(T0 + 3 * HOUR, "medium", 162.0, breached=True))
    with fleet() as session:
        case = session.get_one(Case, case_id)
        got = marks(case, lambda key, **kw: key)
    assert got == [
        (T0.timestamp(), "opened", "ev_opened"),
        ((T0 + 3 * HOUR).timestamp(), "escalated", "ev_escalated → high"),
    ]
    points = [(T0.timestamp() + 600 * i, 100.0 + i) for i in range(30)]
    svg = render_chart(ChartSpec(points=points, unit="Pa", marks=got))
    assert svg.count('class="mark opened"') == 1 and svg.count('class="mark escalated"') == 1


def test_an_admin_label_teaches_and_can_be_withdrawn(service, fleet):
    case_id = service.handle(make_event(at=T0)).case_id
    service.label(case_id, "user:admin", "benign: new filter type")
    with pytest.raises(InvalidTransition, match="already labelled"):
        service.label(case_id, "user:admin", "again")
    service.unlabel(case_id, "user:admin", "")
    with pytest.raises(InvalidTransition, match="no false-alarm label"):
        service.unlabel(case_id, "user:admin", "")
    with fleet() as session:
        [label] = session.scalars(select(DetectorLabel)).all()
    assert (label.source, label.withdrawn_at is not None) == ("admin", True)
    assert kinds(fleet, case_id)[-2:] == ["labelled", "label_withdrawn"]
