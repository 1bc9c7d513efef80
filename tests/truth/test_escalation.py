"""Issue 13, living cases: a severity that needs a higher agent tier routes the case to
one (when it opens and when it escalates), and the agents concerned are told, by e-mail
through the real relay (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.conftest import SmtpSink, free_port
from tests.tickets.conftest import T0, make_event
from tickets.agent_notices import agent_outbox
from tickets.dispatcher import Dispatcher
from tickets.models import Agent, AgentNotice, Case
from tickets.service import CaseService
from tickets.settings import CaseSettings, TicketsConfig

HOUR = timedelta(hours=1)


def pump(mode: str, at=T0, kind: str = "anomaly", severity: str = "low"):  # noqa: ANN001, ANN201
    event = make_event("pu-1", mode, kind, at, severity, model="pump-p3")
    return dataclasses.replace(event, extra={"breached": severity == "critical"})


def assignee(factory, case_id: int) -> tuple[str, int] | None:  # noqa: ANN001
    with factory() as session:
        agent = session.get_one(Case, case_id).assignee
        return (agent.name, agent.tier) if agent else None


def timeline(factory, case_id: int) -> list[tuple[str, dict]]:  # noqa: ANN001
    with factory() as session:
        return [(e.kind, e.detail) for e in session.get_one(Case, case_id).events]


def agent_notices(factory, case_id: int) -> list[tuple[str, str, str]]:  # noqa: ANN001
    with factory() as session:
        rows = session.scalars(
            select(AgentNotice).where(AgentNotice.case_id == case_id).order_by(AgentNotice.id)
        )
        return [(n.agent.name, n.kind, n.status) for n in rows]


def with_cases(settings: TicketsConfig, **changes: object) -> TicketsConfig:
    return dataclasses.replace(settings, cases=settings.cases.model_copy(update=changes))


def subject_of(message: Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def body_of(message: Message) -> str:
    if message.is_multipart():
        return "".join(body_of(part) for part in message.get_payload())  # type: ignore[union-attr]
    return str(message.get_payload(decode=True).decode())  # type: ignore[union-attr]


def test_a_critical_case_opens_with_an_agent_of_its_tier(fleet, profiles, settings, clock):
    service = CaseService(fleet, profiles, settings, clock=clock)
    first = service.handle(pump("impeller_clog"))  # Kenji (tier 2) has one case now
    critical = service.handle(pump("bearing_wear", severity="critical"))
    assert assignee(fleet, first.case_id) == ("Kenji Yamamoto", 2)
    assert assignee(fleet, critical.case_id) == ("Kenji Yamamoto", 2), (
        "least loaded would be Liam (tier 1); critical needs tier 2"
    )


def test_a_team_without_the_tier_still_gets_the_case_and_is_told_why(
    fleet, profiles, settings, clock
):
    with fleet.begin() as session:
        session.execute(update(Agent).values(tier=1))
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(pump("bearing_wear", severity="critical")).case_id
    with fleet() as session:
        case = session.get_one(Case, case_id)
        assert case.assignee is not None
        assert case.routing_reason.startswith("below tier 2 (no active agent of tier 2")


def test_an_escalation_past_the_tier_reroutes_and_tells_both_agents(
    fleet, profiles, settings, clock, smtp_server: SmtpSink
):
    relay = settings.notify.smtp.model_copy(
        update={"host": smtp_server.host, "port": smtp_server.port, "security": "none"}
    )
    settings = dataclasses.replace(
        settings, notify=settings.notify.model_copy(update={"smtp": relay})
    )
    service = CaseService(fleet, profiles, settings, clock=clock)
    service.handle(pump("impeller_clog"))  # Kenji
    case_id = service.handle(pump("bearing_wear")).case_id
    assert assignee(fleet, case_id) == ("Liam Carter", 1)
    outcome = service.handle(pump("bearing_wear", T0 + HOUR, "update", "critical"))
    assert outcome.detail == "escalated"
    assert assignee(fleet, case_id) == ("Kenji Yamamoto", 2)
    events = timeline(fleet, case_id)
    [rerouted] = [d for k, d in events if k == "rerouted"]
    assert (rerouted["from_agent_name"], rerouted["to_agent_name"]) == (
        "Liam Carter",
        "Kenji Yamamoto",
    )
    assert (rerouted["from_tier"], rerouted["to_tier"], rerouted["tier_needed"]) == (1, 2, 2)
    kinds = [k for k, _ in events]
    assert kinds.index("escalated") < kinds.index("rerouted")
    assert agent_notices(fleet, case_id) == [
        ("Liam Carter", "rerouted_away", "pending"),
        ("Kenji Yamamoto", "rerouted_to", "pending"),
    ]
    Dispatcher(fleet, settings, clock=clock).run_once()
    assert [s for _, _, s in agent_notices(fleet, case_id)] == ["sent", "sent"]
    mails = {m["X-Envelope-To"]: m for m in smtp_server.wait_for(2)}
    liam, kenji = mails["liam.carter@example.com"], mails["kenji.yamamoto@example.com"]
    assert subject_of(liam) == f"Case #{case_id} went to Kenji Yamamoto"
    assert "it is now Kenji Yamamoto's" in body_of(liam)
    # Kenji's first language is Japanese
    assert subject_of(kenji) == f"ケース #{case_id}(緊急)の担当になりました"
    assert "Liam Carter さんから" in body_of(kenji)


def test_an_assignee_of_the_tier_keeps_the_case_and_hears_of_the_escalation(
    fleet, profiles, settings, clock, tmp_path: Path
):
    settings = dataclasses.replace(
        settings, notify=settings.notify.model_copy(update={"mode": "log"})
    )
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(pump("bearing_wear")).case_id  # Kenji, tier 2
    service.handle(pump("bearing_wear", T0 + HOUR, "update", "critical"))
    assert assignee(fleet, case_id) == ("Kenji Yamamoto", 2)
    assert "rerouted" not in [k for k, _ in timeline(fleet, case_id)]
    assert agent_notices(fleet, case_id) == [("Kenji Yamamoto", "escalated", "pending")]
    Dispatcher(fleet, settings, clock=clock).run_once()
    [written] = list(agent_outbox(settings.outbox_dir).iterdir())
    notice = json.loads(written.read_text())
    assert notice["subject"] == f"ケース #{case_id} の重要度が「緊急」に上がりました"
    assert not any(p.name.startswith("kizuki-agent") for p in settings.outbox_dir.iterdir())


def test_without_an_agent_of_the_tier_the_assignee_keeps_it_and_the_timeline_says_so(
    fleet, profiles, settings, clock
):
    service = CaseService(fleet, profiles, settings, clock=clock)
    service.handle(pump("impeller_clog"))  # Kenji
    case_id = service.handle(pump("bearing_wear")).case_id  # Liam
    with fleet.begin() as session:
        session.execute(update(Agent).where(Agent.name == "Kenji Yamamoto").values(active=False))
    service.handle(pump("bearing_wear", T0 + HOUR, "update", "critical"))
    assert assignee(fleet, case_id) == ("Liam Carter", 1)
    [wanted] = [d for k, d in timeline(fleet, case_id) if k == "reroute_wanted"]
    assert (wanted["agent_name"], wanted["tier_needed"]) == ("Liam Carter", 2)
    assert agent_notices(fleet, case_id) == [("Liam Carter", "escalated", "pending")]


def test_the_tier_per_severity_is_configurable(fleet, profiles, settings, clock):
    settings = with_cases(settings, min_tier={"critical": 1})
    service = CaseService(fleet, profiles, settings, clock=clock)
    service.handle(pump("impeller_clog"))  # Kenji
    case_id = service.handle(pump("bearing_wear")).case_id  # Liam
    service.handle(pump("bearing_wear", T0 + HOUR, "update", "critical"))
    assert assignee(fleet, case_id) == ("Liam Carter", 1)
    assert agent_notices(fleet, case_id) == [("Liam Carter", "escalated", "pending")]


@pytest.mark.parametrize("tiers", [{"urgent": 2}, {"critical": 4}, {"critical": 0}])
def test_a_tier_setting_that_cannot_work_is_refused(tiers: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="min_tier"):
        CaseSettings(min_tier=tiers)


def test_an_agent_notice_the_relay_refuses_is_retried_then_marked_failed(
    fleet, profiles, settings, clock
):
    relay = settings.notify.smtp.model_copy(
        update={"host": "127.0.0.1", "port": free_port(), "security": "none"}  # nobody there
    )
    notify = settings.notify.model_copy(update={"smtp": relay, "max_attempts": 2})
    settings = dataclasses.replace(settings, notify=notify)
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(pump("bearing_wear")).case_id  # Kenji
    service.handle(pump("bearing_wear", T0 + HOUR, "update", "critical"))
    dispatcher = Dispatcher(fleet, settings, clock=clock)
    dispatcher.run_once()
    with fleet() as session:
        [row] = session.scalars(select(AgentNotice).where(AgentNotice.case_id == case_id))
        assert (row.status, row.attempts) == ("pending", 1) and row.last_error
        assert row.next_attempt_at > clock.now, "waits before trying again"
    dispatcher.run_once()  # not due yet: nothing happens
    clock.advance(settings.notify.backoff_s)
    dispatcher.run_once()
    assert agent_notices(fleet, case_id) == [("Kenji Yamamoto", "escalated", "failed")]
