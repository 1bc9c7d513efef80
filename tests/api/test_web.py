"""Log-in, sessions, CSRF, languages, the feedback page and error pages, over HTTP."""

from __future__ import annotations

import dataclasses
import re

import httpx
import pytest
from sqlalchemy import select

from core.cases import OPEN_STATUSES
from tests.api.world import PASSWORD, World, open_case_reaching
from tests.conftest import free_port, tampered
from tickets.dispatcher import Dispatcher
from tickets.models import ApiKey, Case, Feedback, Notification, User

HTML = {"Accept": "text/html"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def log_in(client: httpx.Client, username: str, next_url: str = "/cases") -> httpx.Response:
    form = client.get("/login")
    data = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": csrf_of(form.text),
        "next": next_url,
    }
    return client.post("/login", data=data)


def test_pages_send_strangers_to_the_login_form(client: httpx.Client) -> None:
    response = client.get("/cases?severity=high&model=pump-p3", headers=HTML)
    assert response.status_code == 303
    assert (
        response.headers["location"] == "/login?next=%2Fcases%3Fseverity%3Dhigh%26model%3Dpump-p3"
    )
    form = client.get(response.headers["location"]).text
    assert 'name="next" value="/cases?severity=high&amp;model=pump-p3"' in form


def test_login_then_the_queue(client: httpx.Client) -> None:
    response = log_in(client, "agent")
    assert response.status_code == 303 and response.headers["location"] == "/cases"
    assert "kizuki_session" in client.cookies
    queue = client.get("/cases", headers=HTML)
    assert queue.status_code == 200 and "Case queue" in queue.text


def test_wrong_password_is_refused_without_saying_which_part(client: httpx.Client) -> None:
    form = client.get("/login")
    response = client.post(
        "/login", data={"username": "agent", "password": "nope", "csrf_token": csrf_of(form.text)}
    )
    assert response.status_code == 401
    assert "Wrong username or password" in response.text
    still_out = client.get("/cases", headers=HTML)
    assert still_out.status_code == 303 and still_out.headers["location"].startswith("/login")


def test_login_without_csrf_token_is_refused(client: httpx.Client) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "agent", "password": PASSWORD}, headers=HTML)
    assert response.status_code == 403
    assert "<html" in response.text  # a page for people, not JSON


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil"])
def test_login_never_redirects_off_site(client: httpx.Client, target: str) -> None:
    assert log_in(client, "viewer", target).headers["location"] == "/cases"


def test_a_tampered_session_cookie_is_ignored(client: httpx.Client, base_url: str) -> None:
    log_in(client, "admin")
    forged = tampered(client.cookies["kizuki_session"])
    with httpx.Client(base_url=base_url, cookies={"kizuki_session": forged}) as other:
        assert other.get("/api/v1/cases").status_code == 401


def test_cookie_sessions_need_the_csrf_header_to_act(client: httpx.Client, fresh_case: int) -> None:
    log_in(client, "agent")
    assert client.get("/api/v1/cases").status_code == 200
    assert client.post(f"/api/v1/cases/{fresh_case}/acknowledge").status_code == 403
    token = csrf_of(client.get("/cases", headers=HTML).text)
    response = client.post(
        f"/api/v1/cases/{fresh_case}/acknowledge", headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"


def test_case_page_forms_check_csrf_and_role(
    client: httpx.Client, base_url: str, fresh_case: int
) -> None:
    log_in(client, "agent")
    page = client.get(f"/cases/{fresh_case}", headers=HTML)
    bad = client.post(f"/cases/{fresh_case}/actions/start", data={"csrf_token": "x"}, headers=HTML)
    assert bad.status_code == 403
    good = client.post(
        f"/cases/{fresh_case}/actions/start", data={"csrf_token": csrf_of(page.text)}
    )
    assert good.status_code == 303
    with httpx.Client(base_url=base_url) as viewer:
        log_in(viewer, "viewer")
        token = csrf_of(viewer.get(f"/cases/{fresh_case}", headers=HTML).text)
        refused = viewer.post(
            f"/cases/{fresh_case}/actions/resolve", data={"csrf_token": token}, headers=HTML
        )
        assert refused.status_code == 403
    assert "in progress" in client.get(f"/cases/{fresh_case}", headers=HTML).text


@pytest.mark.parametrize("agent_id", ["99999999999999999999", "2147483648", "0", "x"])
def test_an_assign_form_with_an_impossible_agent_id_is_refused(
    client: httpx.Client, world: World, fresh_case: int, agent_id: str
) -> None:
    log_in(client, "agent")
    token = csrf_of(client.get(f"/cases/{fresh_case}", headers=HTML).text)
    response = client.post(
        f"/cases/{fresh_case}/actions/assign",
        data={"csrf_token": token, "agent_id": agent_id},
        headers=HTML,
    )
    assert response.status_code == 422
    assert "<html" in response.text and "Traceback" not in response.text
    with world.session_factory() as session:
        case = session.get(Case, fresh_case)
        assert case is not None and case.assignee_id is not None  # still the routed agent


def test_a_case_page_for_an_id_that_cannot_exist_is_not_found(client: httpx.Client) -> None:
    log_in(client, "viewer")
    for ref in ("99999999999999999999", "abc", "0", "-1"):
        response = client.get(f"/cases/{ref}", headers=HTML)
        assert response.status_code == 404 and "<html" in response.text, ref


def test_logout_ends_the_session(client: httpx.Client) -> None:
    log_in(client, "viewer")
    token = csrf_of(client.get("/cases", headers=HTML).text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/cases", headers=HTML).status_code == 303


def test_language_from_header_query_and_user_setting(client: httpx.Client, world: World) -> None:
    assert "ログイン" in client.get("/login", headers={"Accept-Language": "ja-JP,en;q=0.5"}).text
    log_in(client, "viewer")
    assert "Case queue" in client.get("/cases", headers={"Accept-Language": "ja"}).text
    assert "ケース一覧" in client.get("/cases?lang=ja").text
    assert "ケース一覧" in client.get("/cases").text  # ?lang= sticks for the session
    token = csrf_of(client.get("/cases", headers=HTML).text)
    client.post("/me/locale", data={"locale": "ja", "csrf_token": token, "back": "/fleet"})
    with world.session_factory.begin() as session:
        user = session.scalars(select(User).where(User.username == "viewer")).one()
        assert user.locale == "ja"
        user.locale = "en"  # leave the shared world as it was


def test_html_errors_for_people_json_problems_for_programs(client: httpx.Client) -> None:
    log_in(client, "viewer")
    page = client.get("/cases/999999", headers=HTML)
    assert page.status_code == 404 and "<html" in page.text
    assert "404 · Not found" in page.text and "No case 999999." in page.text
    api = client.get("/api/v1/cases/999999", headers=HTML)
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_feedback_page_records_the_customers_vote(client: httpx.Client, world: World) -> None:
    with world.session_factory() as session:
        notice = session.scalars(
            select(Notification).where(Notification.case_id == world.cases["bearing"])
        ).first()
        assert notice is not None
    token = notice.feedback_token  # the link in the customer's message
    form = client.get(f"/feedback/{token}?vote=down")  # in the customer's language
    assert form.status_code == 200 and "製品の状態と合っていますか" in form.text
    with world.session_factory() as session:  # opening the link records nothing
        assert session.scalar(select(Feedback).where(Feedback.notification_id == notice.id)) is None
    done = client.post(
        f"/feedback/{token}",
        data={"vote": "down", "comment": "No problem here", "csrf_token": csrf_of(form.text)},
    )
    assert done.status_code == 200
    with world.session_factory() as session:
        fb = session.scalar(select(Feedback).where(Feedback.notification_id == notice.id))
        assert fb is not None and fb.vote == "down" and fb.comment == "No problem here"
    # the vote is for an agent to look at: the queue shows it, the agent settles it
    case_id = world.cases["bearing"]
    log_in(client, "agent")
    queue = client.get("/cases?status=all&review=customer_disagrees", headers=HTML).text
    assert re.findall(r'data-case-id="(\d+)"', queue) == [str(case_id)]
    assert 'data-review="customer_disagrees"' in queue and "Customer disagrees" in queue
    page = client.get(f"/cases/{case_id}", headers=HTML).text
    assert 'id="review-form"' in page
    reviewed = client.post(
        f"/cases/{case_id}/actions/review",
        data={"text": "Called: the noise is real", "csrf_token": csrf_of(page)},
    )
    assert reviewed.status_code == 303
    queue = client.get("/cases?status=all&review=customer_disagrees", headers=HTML).text
    assert re.findall(r'data-case-id="(\d+)"', queue) == []


def _attempts(page: str) -> list[list[str]]:
    """[channel, outcome] of each delivery attempt listed on a case page."""
    section = page[page.index('id="notifications"') : page.index('id="feedback"')]
    items = re.findall(
        r'<li class="(?:ok|err)" data-ok="\w+"><time>[^<]+</time>(.*?)</li>', section
    )
    return [re.sub(r"<[^>]+>", "", item).strip().split(" · ", 1) for item in items]


@pytest.mark.parametrize("role", ["viewer", "agent", "admin"])
def test_the_case_page_lists_each_delivery_attempt_without_feedback_links(
    client: httpx.Client, world: World, role: str
) -> None:
    Dispatcher(world.session_factory, world.settings.tickets).run_once()  # the demo log channel
    failing = open_case_reaching(world, "webhook", f"json://127.0.0.1:{free_port()}/hook")
    apprise = world.settings.tickets.notify.model_copy(
        update={"mode": "apprise", "allow_targets": ["127.0.0.1"]}
    )
    Dispatcher(
        world.session_factory, dataclasses.replace(world.settings.tickets, notify=apprise)
    ).run_once()
    log_in(client, role)
    with world.session_factory() as session:
        tokens = set(session.scalars(select(Notification.feedback_token)).all())
    for case, placeholder in (
        (world.cases["bearing"], "[評価リンク]"),
        (failing, "[feedback link]"),
    ):
        page = client.get(f"/cases/{case}", headers=HTML).text
        assert "/feedback/" not in page and not [t for t in tokens if t and t in page]
        if role == "viewer":  # the message holds the customer's name: not for viewers
            assert placeholder not in page and 'data-redacted="true"' in page
        else:
            assert placeholder in page  # the message itself is shown, in its language
    delivered = _attempts(client.get(f"/cases/{world.cases['bearing']}", headers=HTML).text)
    assert delivered[:1] == [["log (demo)", "delivered"]]
    refused = _attempts(client.get(f"/cases/{failing}", headers=HTML).text)
    assert refused[0][0] == "webhook" and refused[0][1].startswith("failed, will retry: ")


def test_a_forged_feedback_link_is_refused(client: httpx.Client) -> None:
    response = client.get("/feedback/not-a-real-token", headers=HTML)
    assert response.status_code == 400


def test_secrets_are_stored_hashed(world: World) -> None:
    with world.session_factory() as session:
        hashes = session.scalars(select(User.password_hash)).all()
        key_hashes = session.scalars(select(ApiKey.key_hash)).all()
    assert hashes and all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes)
    assert not set(world.keys.values()) & set(key_hashes)


def test_fleet_lists_models_and_devices_with_open_cases_first(
    client: httpx.Client, world: World
) -> None:
    log_in(client, "viewer")
    page = client.get("/fleet", headers=HTML).text
    assert 'data-model="aircon-x1"' in page and 'data-model="pump-p3"' in page
    rows = re.findall(r'<tr data-device="([^"]+)" data-health="(\w+)">', page)
    with world.session_factory() as session:
        with_cases = set(
            session.scalars(select(Case.device_id).where(Case.status.in_(OPEN_STATUSES)))
        )
    flags = [device in with_cases for device, _ in rows]
    assert flags == sorted(flags, reverse=True)  # every device with an open case comes first
    assert flags.count(True) == len(with_cases) and "wh-00001" in [d for d, _ in rows]
    assert all(health == "degraded" for device, health in rows if device in with_cases)
    only = client.get("/fleet?model=pump-p3", headers=HTML).text
    assert re.findall(r'data-device="([^"]+)"', only) == ["pump-0001"]
    queue = client.get("/cases?device_id=pump-0001", headers=HTML).text
    assert re.findall(r'data-case-id="(\d+)"', queue) == [str(world.cases["bearing"])]
    assert "ac-00001" not in re.findall(r'href="/devices/([^"]+)"', queue)


def test_password_guessing_is_slowed_down(client: httpx.Client) -> None:
    token = csrf_of(client.get("/login").text)
    data = {"username": "viewer-guess", "password": "wrong", "csrf_token": token}
    codes = [client.post("/login", data=data).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]


def test_pages_carry_hardening_headers(client: httpx.Client) -> None:
    response = client.get("/login")
    assert response.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_fleet_shows_the_median_lead_time(client: httpx.Client) -> None:
    log_in(client, "viewer")
    page = client.get("/fleet", headers=HTML).text
    row = page[page.index('data-model="aircon-x1"') :].split("</tr>")[0]
    assert "3.0 d" in row  # predicted crossing three days after detection
