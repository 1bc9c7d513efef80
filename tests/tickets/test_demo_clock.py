"""The demo's SLA clocks start when the replay ends (kizuki.demo_clock)."""

from __future__ import annotations

from datetime import timedelta

from kizuki.demo_clock import restart_sla_clocks
from tests.tickets.conftest import FakeClock, make_event
from tickets.models import Case
from tickets.service import CaseService


def test_open_cases_get_their_whole_sla_window_from_the_end_of_the_replay(
    fleet, profiles, settings, clock: FakeClock
) -> None:
    service = CaseService(fleet, profiles, settings, clock=clock)
    open_id = service.handle(make_event("ac-1", at=clock.now)).case_id
    done_id = service.handle(make_event("pu-1", "bearing_wear", model="pump-p3", at=clock.now))
    assert open_id is not None and done_id.case_id is not None
    service.resolve(done_id.case_id, "user:sato", "repaired_on_site", note="ok", confirm=True)
    with fleet() as session:
        case = session.get_one(Case, open_id)
        opened, due = case.opened_at, case.sla_due_at
        resolved_due = session.get_one(Case, done_id.case_id).sla_due_at
    live_at = opened + timedelta(days=8)  # the replay ran days of history
    assert due < live_at  # without the restart: overdue the moment the demo goes live

    assert restart_sla_clocks(fleet, settings, live_at) == 1
    with fleet() as session:
        case = session.get_one(Case, open_id)
        hours = settings.cases.default_sla_hours[case.severity]
        assert case.sla_due_at == live_at + timedelta(hours=hours)
        assert [e.kind for e in case.events][-1] == "sla_restarted"
        assert session.get_one(Case, done_id.case_id).sla_due_at == resolved_due
    assert restart_sla_clocks(fleet, settings, live_at) == 0  # once
