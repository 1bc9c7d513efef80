"""The case page tells the re-route of an escalated case, naming both agents, in the
reader's language (issue 13, living cases)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from tests.api.test_web import log_in
from tests.api.world import World
from tests.tickets.conftest import make_event
from tickets.models import Agent
from tickets.registry import import_manifest


def _escalated_case(world: World) -> int:
    world.serial += 1
    customer, device = f"c-esc{world.serial:03d}", f"pu-esc{world.serial:03d}"
    person = {"id": customer, "name": "Pat", "locale": "en", "timezone": "UTC"}
    import_manifest(
        world.session_factory,
        {
            "customers": [person],
            "devices": [{"id": device, "model": "pump-p3", "customer_id": customer}],
        },
    )
    at = datetime.fromtimestamp(world.now - 7200, UTC)
    event = make_event(device, "bearing_wear", at=at, model="pump-p3")
    case_id = world.service.handle(event).case_id
    assert case_id is not None
    with world.session_factory() as session:
        liam = session.scalar(select(Agent.id).where(Agent.name == "Liam Carter"))
    world.service.assign(case_id, liam, "user:agent")
    later = datetime.fromtimestamp(world.now - 3600, UTC)
    update = make_event(device, "bearing_wear", "update", later, "critical", model="pump-p3")
    world.service.handle(dataclasses.replace(update, extra={"breached": True}))
    return case_id


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "from Liam Carter to Kenji Yamamoto (needs tier 2)"),
        ("ja", "Liam Carter → Kenji Yamamoto(ティア 2 以上が担当)"),
    ],
)
def test_the_case_page_names_both_agents_of_a_reroute(
    client: httpx.Client, world: World, lang: str, expected: str
) -> None:
    case_id = _escalated_case(world)
    log_in(client, "agent")
    page = client.get(f"/cases/{case_id}?lang={lang}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert expected in page.text
