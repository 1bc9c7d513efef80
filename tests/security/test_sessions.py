"""Finding 2: log-out did not end a session (a cookie saved before it kept reading and
writing for 12 h). Also: rotation at log-in, cookie flags and the browser headers."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from api.auth import create_user, set_active
from tests.api.world import PASSWORD, World
from tests.security.conftest import csrf_of, log_in, served
from tickets.models import Case

HTML = {"Accept": "text/html"}


def _acts(cookie: str, url: str, case_id: int) -> tuple[int, int]:
    """(GET /api/v1/cases, POST acknowledge with the CSRF token) with a saved cookie."""
    with httpx.Client(base_url=url, cookies={"kizuki_session": cookie}) as thief:
        read = thief.get("/api/v1/cases").status_code
        page = thief.get(f"/cases/{case_id}", headers=HTML)
        token = csrf_of(page.text) if page.status_code == 200 else "x"
        write = thief.post(f"/api/v1/cases/{case_id}/acknowledge", headers={"X-CSRF-Token": token})
        return read, write.status_code


@pytest.fixture(scope="module")
def url(world: World):  # type: ignore[no-untyped-def]
    with served(world) as base:
        yield base


@pytest.fixture
def case_id(world: World) -> int:
    with world.session_factory() as session:
        return session.scalars(select(Case.id)).first() or 0


def test_a_cookie_saved_before_log_out_no_longer_works(url: str, case_id: int) -> None:
    with httpx.Client(base_url=url) as browser:
        assert log_in(browser, "agent").status_code == 303
        saved = browser.cookies["kizuki_session"]
        assert _acts(saved, url, case_id)[0] == 200  # the saved cookie works before
        page = browser.get("/cases", headers=HTML)
        assert browser.post("/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert _acts(saved, url, case_id) == (401, 401)


def test_log_out_ends_the_users_other_sessions_too(url: str, case_id: int) -> None:
    with httpx.Client(base_url=url) as laptop, httpx.Client(base_url=url) as phone:
        log_in(laptop, "agent"), log_in(phone, "agent")
        page = laptop.get("/cases", headers=HTML)
        laptop.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert phone.get("/api/v1/cases").status_code == 401


def test_a_new_password_or_disabling_ends_every_session(
    url: str, world: World, case_id: int
) -> None:
    create_user(world.session_factory, "temp", PASSWORD, "agent")
    with httpx.Client(base_url=url) as browser:
        log_in(browser, "temp")
        create_user(world.session_factory, "temp", "a new password", "agent")
        assert browser.get("/api/v1/cases").status_code == 401
    create_user(world.session_factory, "temp", PASSWORD, "agent")
    with httpx.Client(base_url=url) as browser:
        log_in(browser, "temp")
        set_active(world.session_factory, "temp", False)
        assert browser.get("/api/v1/cases").status_code == 401


def test_log_in_rotates_the_session(url: str) -> None:
    with httpx.Client(base_url=url) as browser:
        before_token = csrf_of(browser.get("/login").text)
        before = browser.cookies["kizuki_session"]
        log_in(browser, "viewer")
        after = browser.cookies["kizuki_session"]
        assert after != before
        assert csrf_of(browser.get("/cases", headers=HTML).text) != before_token


def _cookie(url: str, headers: dict[str, str] | None = None) -> str:
    with httpx.Client(base_url=url) as fresh:
        return fresh.get("/login", headers=headers).headers["set-cookie"].lower()


def test_cookie_flags_and_secure_only_behind_https(world: World) -> None:
    https = {"X-Forwarded-Proto": "https"}
    with served(world, trusted_proxies=["127.0.0.1"]) as url:
        plain = _cookie(url)
        assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
        assert "secure" in _cookie(url, https)
    with served(world) as url:  # the peer is no trusted proxy: its header means nothing
        assert "secure" not in _cookie(url, https)


@pytest.mark.parametrize("path", ["/login", "/cases", "/fleet", "/cases/{case}", "/nope"])
def test_every_page_sends_the_browser_hardening_headers(url: str, case_id: int, path: str) -> None:
    with httpx.Client(base_url=url) as browser:
        log_in(browser, "viewer")
        response = browser.get(path.format(case=case_id), headers=HTML)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-" not in csp  # no inline script or style
    assert " style=" not in response.text and "<script>" not in response.text  # none needed
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
