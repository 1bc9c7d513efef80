"""Several ``kizuki api`` processes over one case DB: a user cannot tell them apart.

Two real API processes (each its own data directory, as on two machines) share a
private PostgreSQL schema, the telemetry store and ``KIZUKI_API__SECRET_KEY``; a third
has its own secret. What a user behind a load balancer would do: log in on one,
carry on on the other, post a form fetched from one to the other, see a case
acknowledged through one on the other, log out everywhere at once.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from api.auth import create_api_key, create_user, ensure_first_admin
from api.passwords import verify_password
from api.settings import AppConfig
from core.events import AnomalyEvent, Explanation
from core.profiles import load_profiles
from kizuki.config import Settings
from simulator.fleet import Fleet
from tests.conftest import free_port
from tests.scale.workers import ROOT, START
from tickets.db import make_engine, make_session_factory
from tickets.models import User
from tickets.service import CaseService

HTML = {"Accept": "text/html"}
PASSWORD = "correct horse battery staple 15"


@dataclass
class Api:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def factory(cases_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(cases_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def apis(cases_url: str, tmp_path: Path) -> Iterator[Callable[[str, str | None], Api]]:
    """``apis(name, secret)`` starts ``kizuki api`` (no secret: its own, in its data dir);
    ``up(api)`` waits for it."""
    started: list[Api] = []

    def start(name: str, secret: str | None) -> Api:
        data = tmp_path / f"api-{name}"
        data.mkdir()
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "KIZUKI_DATA_DIR": str(data),
            "KIZUKI_CASES__DB_URL": cases_url,
            "KIZUKI_STORE__SQLITE_PATH": str(tmp_path / "telemetry.db"),
        }
        if secret is not None:
            env["KIZUKI_API__SECRET_KEY"] = secret
        with (data / "log").open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", START, "api", "--port", str(port)],
                cwd=data,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        api = Api(f"http://127.0.0.1:{port}", process, data / "log")
        started.append(api)
        return api

    yield start
    for api in started:
        api.process.kill()
        api.process.wait(10)


def up(api: Api, timeout: float = 60.0) -> Api:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{api.url}/healthz", timeout=2).status_code == 200:
                return api
        except httpx.TransportError:
            pass
        if api.process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"kizuki api at {api.url} not up:\n{api.log.read_text()[-3000:]}")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def open_case(factory: sessionmaker[Session], fleet: Fleet) -> int:
    """A filter-clog case on one of the fleet's air conditioners, as the engine opens it."""
    device = next(d["id"] for d in fleet.manifest()["devices"] if d["model"] == "aircon-x1")
    now = time.time()
    why = Explanation(
        metric="filter_dp_pa",
        unit="Pa",
        expected=55.0,
        observed=109.0,
        trend_per_day=18.0,
        limit=150.0,
        eta_ts=now + 3 * 86400,
        detectors=("trend",),
        text="filter_dp_pa drifting towards 150 Pa",
    )
    event = AnomalyEvent(
        device_id=device,
        model="aircon-x1",
        failure_mode="filter_clog",
        kind="anomaly",
        ts=now - 3600,
        started_at=now - 3 * 86400,
        severity="low",
        score=0.9,
        why=why,
    )
    service = CaseService(
        factory, load_profiles(), AppConfig.of(Settings()).tickets, clock=time.time
    )
    case_id = service.handle(event).case_id
    assert case_id is not None
    return case_id


def test_api_processes_sharing_the_secret_serve_one_user_as_one(
    apis: Callable[[str, str | None], Api], factory: sessionmaker[Session], fleet: Fleet
) -> None:
    create_user(factory, "agent", PASSWORD, "agent")
    key = create_api_key(factory, "ops", "viewer")
    case_id = open_case(factory, fleet)
    secret = secrets.token_urlsafe(32)
    a, b, own = apis("a", secret), apis("b", secret), apis("own", None)  # own: no shared secret
    for api in (up(a), up(b), up(own)):  # all ready, all know the API key
        assert httpx.get(f"{api.url}/readyz", timeout=10).status_code == 200
        listed = httpx.get(f"{api.url}/api/v1/cases", headers={"X-API-Key": key}, timeout=10)
        assert listed.status_code == 200 and case_id in {c["id"] for c in listed.json()["data"]}

    with httpx.Client(timeout=30) as browser:  # cookies are per host, not per port
        token = csrf_of(browser.get(f"{a.url}/login").text)
        form = {"username": "agent", "password": PASSWORD, "csrf_token": token}
        assert browser.post(f"{a.url}/login", data=form).status_code == 303  # logged in on a
        queue = browser.get(f"{b.url}/cases", headers=HTML)
        assert queue.status_code == 200 and "Case queue" in queue.text  # the session on b
        elsewhere = browser.get(f"{own.url}/cases", headers=HTML)  # not signed with its secret
        assert elsewhere.status_code == 303 and elsewhere.headers["location"].startswith("/login")

        page = browser.get(f"{a.url}/cases/{case_id}", headers=HTML).text  # form from a
        done = browser.post(
            f"{b.url}/cases/{case_id}/actions/acknowledge", data={"csrf_token": csrf_of(page)}
        )
        assert done.status_code == 303 and done.headers["location"] == f"/cases/{case_id}"
        for api in (a, b, own):
            seen = httpx.get(
                f"{api.url}/api/v1/cases/{case_id}", headers={"X-API-Key": key}, timeout=10
            )
            assert seen.json()["status"] == "acknowledged"

        page = browser.get(f"{b.url}/cases/{case_id}", headers=HTML).text
        cookie = {"kizuki_session": browser.cookies["kizuki_session"]}
        out = browser.post(f"{b.url}/logout", data={"csrf_token": csrf_of(page)})
        assert out.status_code == 303
    # logged out on b: the same cookie, kept by someone, no longer works on a either
    stale = httpx.get(f"{a.url}/cases", headers=HTML, cookies=cookie, timeout=30)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")


def test_processes_starting_together_on_an_empty_case_db_make_one_first_admin(
    factory: sessionmaker[Session],
) -> None:
    """Workers and API processes start at once in a deployment: each one's first-start
    check must leave one 'admin' whose printed password is the one that works."""

    def first_start(together: threading.Barrier) -> str | None:
        together.wait()
        return ensure_first_admin(factory)

    for _ in range(5):
        with factory.begin() as session:
            session.execute(delete(User))
        together = threading.Barrier(3)
        with ThreadPoolExecutor(3) as pool:
            printed = [p for p in pool.map(first_start, [together] * 3) if p is not None]
        assert len(printed) == 1  # one process prints a password, the others find it
        with factory() as session:
            [admin] = session.scalars(select(User)).all()
        assert verify_password(printed[0], admin.password_hash)
