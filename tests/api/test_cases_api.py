"""The case API as a client uses it: filters, order, pages, detail, actions."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import world_on_both_backends
from tests.api.world import World
from tickets.dispatcher import Dispatcher
from tickets.feedback import record_feedback
from tickets.models import Notification

world = world_on_both_backends()  # this module runs on both case-DB backends


def get(client: httpx.Client, world: World, path: str, role: str = "viewer", **params: Any) -> Any:
    response = client.get(path, params=params, headers={"X-API-Key": world.keys[role]})
    assert response.status_code == 200, response.text
    return response.json()


def act(
    client: httpx.Client, world: World, case: int, action: str, body: Any = None
) -> httpx.Response:
    return client.post(
        f"/api/v1/cases/{case}/{action}",
        json=body or {},
        headers={"X-API-Key": world.keys["agent"]},
    )


def test_filters_narrow_the_queue(client: httpx.Client, world: World) -> None:
    def ids(**params: Any) -> set[int]:
        return {c["id"] for c in get(client, world, "/api/v1/cases", **params)["data"]}

    assert ids(severity="high") == {world.cases["refrigerant"]}
    assert ids(model="pump-p3") == {world.cases["bearing"]}
    assert ids(failure_mode="filter_clog") == {world.cases["filter"]}
    assert ids(severity=["high", "medium"], model="aircon-x1") == {world.cases["refrigerant"]}
    assert ids(status="closed") == set()
    assert ids(assignee="none") == set()  # the router assigned every case
    owner = get(client, world, f"/api/v1/cases/{world.cases['bearing']}")["assignee"]["id"]
    assert world.cases["bearing"] in ids(assignee=str(owner))


def test_a_single_valued_filter_given_twice_is_a_422_problem(
    client: httpx.Client, world: World
) -> None:
    twice = client.get(
        "/api/v1/cases?model=pump-p3&model=aircon-x1&status=open&status=acknowledged",
        headers={"X-API-Key": world.keys["viewer"]},
    )
    assert twice.status_code == 422
    assert [e["loc"] for e in twice.json()["errors"]] == [["query", "model"]]
    both = get(client, world, "/api/v1/cases", status=["open", "acknowledged"], model="pump-p3")
    assert [c["id"] for c in both["data"]] == [world.cases["bearing"]]  # lists may repeat


def test_sort_orders_by_urgency(client: httpx.Client, world: World) -> None:
    data = get(client, world, "/api/v1/cases", sort="priority", status="open")["data"]
    assert [c["priority"] for c in data] == sorted(c["priority"] for c in data)
    data = get(client, world, "/api/v1/cases", sort="-sla_due_at")["data"]
    assert [c["sla_due_at"] for c in data] == sorted((c["sla_due_at"] for c in data), reverse=True)


def test_cursor_pages_through_every_case_once(client: httpx.Client, world: World) -> None:
    everything = get(client, world, "/api/v1/cases", limit=200)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1, "sort": "-opened_at"}
        if cursor:
            params["cursor"] = cursor
        page = get(client, world, "/api/v1/cases", **params)
        assert page["count"] == everything["count"]
        seen += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(c["id"] for c in everything["data"])
    assert len(seen) == len(set(seen))


def test_a_forged_cursor_is_a_400_problem(client: httpx.Client, world: World) -> None:
    response = client.get(
        "/api/v1/cases",
        params={"cursor": "bm90LWEtY3Vyc29y"},
        headers={"X-API-Key": world.keys["viewer"]},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_case_detail_tells_the_whole_story(client: httpx.Client, world: World) -> None:
    case = world.cases["refrigerant"]
    Dispatcher(
        world.session_factory, world.settings.tickets
    ).run_once()  # deliver the outbox (log mode)
    detail = get(client, world, f"/api/v1/cases/{case}")
    notice = detail["notifications"][0]
    with world.session_factory() as session:  # the link in the customer's message
        token = session.get_one(Notification, notice["id"]).feedback_token
    record_feedback(world.session_factory, token, "up", "Thanks!", settings=world.settings.tickets)
    detail = get(client, world, f"/api/v1/cases/{case}", role="agent")  # comments: personal

    assert detail["failure_mode_title"] == "Refrigerant leak"
    assert detail["explanation"]["metric"] == "cooling_delta_c"
    assert detail["explanation"]["limit"] == 4.0
    assert [e["kind"] for e in detail["timeline"]][:2] == ["opened", "assigned"]
    notice = detail["notifications"][0]
    assert notice["kind"] == "detected" and notice["status"] == "sent"
    assert notice["delivery_attempts"] and notice["delivery_attempts"][0]["ok"] is True
    assert detail["feedback"][0]["vote"] == "up"
    assert detail["feedback"][0]["comment"] == "Thanks!"


@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
def test_no_role_sees_the_customers_feedback_links(
    client: httpx.Client, world: World, role: str
) -> None:
    case = world.cases["bearing"]
    with world.session_factory() as session:
        tokens = session.scalars(
            select(Notification.feedback_token).where(Notification.case_id == case)
        ).all()
    assert tokens and all(tokens)
    response = client.get(f"/api/v1/cases/{case}", headers={"X-API-Key": world.keys[role]})
    assert response.status_code == 200
    assert "/feedback/" not in response.text
    assert not [t for t in tokens if t in response.text]
    notice = response.json()["notifications"][0]
    assert notice["locale"] == "ja"  # Yamada-san is written to in Japanese
    if role == "viewer":  # the message holds the customer's name: not for viewers
        assert notice["redacted"] and notice["short_body"] == notice["long_body"] == ""
        return
    assert "[評価リンク]" in notice["short_body"] and "[評価リンク]" in notice["long_body"]
    assert "#" + str(case) in notice["long_body"]  # the rest of the message is still there


def test_an_agent_walks_a_case_through_its_life(
    client: httpx.Client, world: World, fresh_case: int
) -> None:
    assert act(client, world, fresh_case, "acknowledge").json()["status"] == "acknowledged"
    assert act(client, world, fresh_case, "assign", {"agent_id": 2}).json()["assignee"]["id"] == 2
    assert act(client, world, fresh_case, "start").json()["status"] == "in_progress"
    noted = act(client, world, fresh_case, "notes", {"text": "Bearing ordered."}).json()
    assert noted["timeline"][-1]["detail"]["text"] == "Bearing ordered."
    assert noted["timeline"][-1]["actor"] == "key:test-agent"
    fix = {"code": "repaired_on_site", "note": "Replaced"}
    refused = act(client, world, fresh_case, "resolve", fix)  # the device still reads badly
    assert refused.status_code == 409 and "still out of range" in refused.json()["detail"]
    resolved = act(client, world, fresh_case, "resolve", {**fix, "confirm": True}).json()
    assert (resolved["status"], resolved["resolution_code"]) == ("resolved", "repaired_on_site")
    assert (
        resolved["notifications"][-1]["subject"].endswith(
            "We have fixed it and are watching - Room air conditioner X1"
        )
        or "修理を行い" in resolved["notifications"][-1]["subject"]
    )
    assert act(client, world, fresh_case, "close").json()["status"] == "closed"
    assert (
        act(client, world, fresh_case, "reopen", {"note": "Noise again"}).json()["status"] == "open"
    )


def test_actions_that_do_not_fit_are_409_and_unknown_cases_404(
    client: httpx.Client, world: World, fresh_case: int
) -> None:
    refused = act(client, world, fresh_case, "close")
    assert refused.status_code == 409
    assert "cannot close" in refused.json()["detail"]
    assert act(client, world, 999999, "acknowledge").status_code == 404
    assert act(client, world, fresh_case, "assign", {"agent_id": 9999}).status_code == 404


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": 5}])
def test_a_bad_note_is_a_422_problem_listing_the_field(
    client: httpx.Client, world: World, body: Any
) -> None:
    response = act(client, world, world.cases["filter"], "notes", body)
    assert response.status_code == 422
    problem = response.json()
    assert [e["loc"] for e in problem["errors"]] == [["body", "text"]]


def _page_with(client: httpx.Client, world: World, sort: str, cursor: str) -> httpx.Response:
    return client.get(
        "/api/v1/cases",
        params={"limit": 1, "sort": sort, "cursor": cursor},
        headers={"X-API-Key": world.keys["viewer"]},
    )


@pytest.mark.parametrize(
    ("made_for", "used_for"),
    [("sla_due_at", "priority"), ("opened_at", "-opened_at"), ("-score", "score")],
)
def test_a_cursor_from_another_sort_or_direction_is_refused(
    client: httpx.Client, world: World, made_for: str, used_for: str
) -> None:
    page = get(client, world, "/api/v1/cases", limit=1, sort=made_for)
    response = _page_with(client, world, used_for, page["next_cursor"])
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert f"made for sort={made_for}, not sort={used_for}" in response.json()["detail"]


def _forge(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


@pytest.mark.parametrize(
    ("sort", "payload"),
    [
        ("sla_due_at", {"s": "sla_due_at", "v": {"t": "2026-01-01T00:00:00+00:00"}, "id": 10**20}),
        ("priority", {"s": "priority", "v": 10**30, "id": 3}),
        ("score", {"s": "score", "v": float("inf"), "id": 3}),
        ("priority", {"s": "priority", "v": True, "id": 3}),
        ("priority", [1, 2]),
    ],
)
def test_a_forged_cursor_out_of_range_is_a_400_not_a_crash(
    client: httpx.Client, world: World, sort: str, payload: Any
) -> None:
    response = _page_with(client, world, sort, _forge(payload))
    assert response.status_code == 400, response.text
    assert "not one we issued" in response.json()["detail"]


@pytest.mark.parametrize("agent_id", [99999999999999999999, 2**31, 0, -1])
def test_an_agent_id_outside_32_bits_is_a_422_problem(
    client: httpx.Client, world: World, fresh_case: int, agent_id: int
) -> None:
    response = act(client, world, fresh_case, "assign", {"agent_id": agent_id})
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "agent_id"]]
    largest = act(client, world, fresh_case, "assign", {"agent_id": 2**31 - 1})
    assert largest.status_code == 404  # in range, but nobody has that id


@pytest.mark.parametrize("case_id", ["99999999999999999999", "2147483648", "0"])
def test_a_case_id_outside_32_bits_is_a_422_problem(
    client: httpx.Client, world: World, case_id: str
) -> None:
    for response in (
        client.get(f"/api/v1/cases/{case_id}", headers={"X-API-Key": world.keys["viewer"]}),
        act(client, world, case_id, "acknowledge"),  # type: ignore[arg-type]
    ):
        assert response.status_code == 422, response.text
        assert [e["loc"] for e in response.json()["errors"]] == [["path", "case_id"]]
