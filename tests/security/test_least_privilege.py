"""Finding 6: a viewer read customer names and contact details in notification bodies
(the case API and page), agents saw provider tokens (test_notification_targets), and
passwords used scrypt at N=2^14."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from api.auth import create_user
from api.passwords import legacy_scrypt_hash
from tests.api.world import PASSWORD, World
from tests.security.conftest import log_in, served
from tickets.dispatcher import Dispatcher
from tickets.models import Notification, User

PERSONAL = ("Yamada", "山田", "yamada@example.com", "Jane Smith", "+441234")


@pytest.fixture(scope="module")
def url(world: World) -> Iterator[str]:
    Dispatcher(world.session_factory, world.settings.tickets).run_once()  # notices are sent
    with served(world) as base:
        yield base


def _case_ids(world: World) -> list[int]:
    with world.session_factory() as session:
        return sorted(set(session.scalars(select(Notification.case_id))))


def _personal(text: str) -> list[str]:
    return [p for p in PERSONAL if p in text]


def test_a_viewer_gets_no_customer_personal_data(url: str, world: World) -> None:
    key = {"X-API-Key": world.keys["viewer"]}
    with httpx.Client(base_url=url) as viewer:
        log_in(viewer, "viewer")
        for case_id in _case_ids(world):
            api = viewer.get(f"/api/v1/cases/{case_id}", headers=key)
            page = viewer.get(f"/cases/{case_id}", headers={"Accept": "text/html"})
            assert api.status_code == page.status_code == 200
            assert _personal(api.text) == [] and _personal(page.text) == []
            assert all(n["redacted"] for n in api.json()["notifications"])
        assert viewer.get("/api/v1/customers", headers=key).status_code == 403


def test_an_agent_still_reads_what_the_customer_was_sent(url: str, world: World) -> None:
    key = {"X-API-Key": world.keys["agent"]}
    with httpx.Client(base_url=url) as agent:
        texts = [agent.get(f"/api/v1/cases/{c}", headers=key).text for c in _case_ids(world)]
    assert any(_personal(t) for t in texts)


def test_passwords_are_argon2id_and_old_hashes_are_upgraded_at_log_in(
    url: str, world: World
) -> None:
    create_user(world.session_factory, "old-timer", PASSWORD, "viewer")
    with world.session_factory.begin() as session:
        user = session.scalars(select(User).where(User.username == "old-timer")).one()
        user.password_hash = legacy_scrypt_hash(PASSWORD)
    with httpx.Client(base_url=url) as browser:
        assert log_in(browser, "old-timer").status_code == 303
    with world.session_factory() as session:
        stored = session.scalars(select(User.password_hash)).all()
    assert stored and all(h.startswith("$argon2id$v=19$m=19456,t=2,p=1$") for h in stored)
    with httpx.Client(base_url=url) as browser:  # and the upgraded hash still lets them in
        assert log_in(browser, "old-timer").status_code == 303


def test_an_address_typed_into_a_note_is_masked_for_viewers(url: str, world: World) -> None:
    case_id = _case_ids(world)[0]
    note = "Called the owner on +81 90 1234 5678, mail owner@example.org"
    agent, viewer = ({"X-API-Key": world.keys[r]} for r in ("agent", "viewer"))
    with httpx.Client(base_url=url) as client:
        added = client.post(f"/api/v1/cases/{case_id}/notes", json={"text": note}, headers=agent)
        assert added.status_code == 200
        seen = client.get(f"/api/v1/cases/{case_id}", headers=viewer).text
        assert "+81 90 1234 5678" not in seen and "owner@example.org" not in seen
        assert "Called the owner on [hidden]" in seen  # the note itself is still there
        assert note in client.get(f"/api/v1/cases/{case_id}", headers=agent).text
