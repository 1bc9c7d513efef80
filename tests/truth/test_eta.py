"""Issue 13, living cases: the ETA's interval is on the case, follows the newest evidence,
shows on the case page and in the API, and no customer notice is more precise than it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import select

from api.chart import ChartSpec, render_chart
from api.present import explanation
from core.events import AnomalyEvent
from tests.api.test_web import log_in
from tests.api.world import World
from tests.tickets.conftest import T0, make_event
from tickets.models import Case, Notification
from tickets.registry import import_manifest
from tickets.service import CaseService

DAY = 86400.0
SVG = "{http://www.w3.org/2000/svg}"


def with_range(event: AnomalyEvent, earliest: float | None, latest: float | None) -> AnomalyEvent:
    span = None if earliest is None else [earliest, latest]
    return dataclasses.replace(event, extra={**event.extra, "eta_range": span})


def at(days: float) -> float:
    return T0.timestamp() + days * DAY


def test_the_eta_interval_follows_the_newest_evidence(fleet, profiles, settings, clock) -> None:
    service = CaseService(fleet, profiles, settings, clock=clock)
    opened = service.handle(with_range(make_event(device_id="ac-2"), at(2), at(4)))
    later = make_event(device_id="ac-2", kind="update", at=T0 + timedelta(hours=6))
    service.handle(with_range(later, at(1.5), at(2.5)))
    with fleet() as session:
        case = session.get_one(Case, opened.case_id)
        assert case.explanation["eta_range"] == [at(1.5), at(2.5)]
        assert case.explanation["first"]["eta_range"] == [at(2), at(4)]
        assert explanation(case).eta_range == [at(1.5), at(2.5)]  # what the API serves
    past = make_event(device_id="ac-2", kind="update", at=T0 + timedelta(hours=7))
    service.handle(with_range(past, None, None))  # no basis for an interval any more
    with fleet() as session:
        assert session.get_one(Case, opened.case_id).explanation["eta_range"] is None


@pytest.mark.parametrize(
    ("device", "says", "never"),
    [
        ("ac-2", "Expected to become noticeable: between 2026-11-22 and 2026-11-24 (GMT)", ":"),
        ("ac-1", "お客様が気づかれる見込み時期: 2026-11-22〜2026-11-24 頃(JST)", ":"),
    ],
    ids=["en", "ja"],
)
def test_the_notice_promises_no_more_than_the_interval(
    fleet, profiles, settings, clock, device, says, never
) -> None:
    service = CaseService(fleet, profiles, settings, clock=clock)
    case_id = service.handle(with_range(make_event(device_id=device), at(2), at(4))).case_id
    with fleet() as session:
        [notice] = session.get_one(Case, case_id).notifications
        line = next(x for x in notice.long_body.splitlines() if x.startswith(says[:12]))
    assert line == says
    assert never not in line.removeprefix(says[: says.index(":") + 1]), "no time of day"


def _open_with_range(world: World, earliest_days: float, latest_days: float) -> int:
    world.serial += 1
    device = f"ac-eta{world.serial:03d}"
    manifest = {"customers": [], "devices": [{"id": device, "model": "aircon-x1"}]}
    import_manifest(world.session_factory, manifest)
    event = make_event(device_id=device, at=datetime.fromtimestamp(world.now - 3600, UTC))
    now = world.now
    event = with_range(event, now + earliest_days * DAY, now + latest_days * DAY)
    case_id = world.service.handle(event).case_id
    assert case_id is not None
    return case_id


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "reaches the user-visible limit of 150 Pa in 2-4 days"),
        ("ja", "このままでは 2〜4日後"),
    ],
)
def test_the_case_page_says_when_with_its_interval(
    client: httpx.Client, world: World, lang: str, expected: str
) -> None:
    case_id = _open_with_range(world, 2.2, 3.6)
    log_in(client, "agent")
    page = client.get(f"/cases/{case_id}?lang={lang}", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert expected in page.text
    assert 'class="eta-range' in page.text


def test_the_api_serves_the_interval(client: httpx.Client, world: World) -> None:
    case_id = _open_with_range(world, 0.5, 1.5)
    detail = client.get(f"/api/v1/cases/{case_id}", headers={"X-API-Key": world.keys["viewer"]})
    assert detail.status_code == 200
    earliest, latest = detail.json()["explanation"]["eta_range"]
    assert latest - earliest == pytest.approx(DAY)
    with world.session_factory() as session:
        notices = session.scalars(select(Notification).where(Notification.case_id == case_id))
        assert list(notices) == [], "a device without a customer tells nobody"


def test_the_chart_draws_the_interval_on_the_limit_line() -> None:
    hour = 3600.0
    points = [(i * hour, 60.0 + 1.5 * i) for i in range(48)]  # two days, rising
    spec = ChartSpec(points, "Pa", limit=150.0, eta_ts=60 * hour, eta_range=(54 * hour, 70 * hour))
    root = ElementTree.fromstring(str(render_chart(spec)))
    [bar] = [el for el in root.iter() if el.get("class") == "eta-range"]
    [limit] = [el for el in root.iter() if el.get("class") == "limit" and el.get("y1")]
    assert bar.get("y1") == limit.get("y1"), "on the limit line"
    x_last = float(root.find(f"{SVG}polyline").get("points").split()[-1].split(",")[0])
    x1, x2 = float(bar.get("x1")), float(bar.get("x2"))
    assert x_last < x1 < x2, "after the newest reading, with a width"
    per_hour = (x1 - x_last) / (54 - 47)
    assert x2 - x1 == pytest.approx(16 * per_hour, rel=0.02), "16 h wide, all of it drawn"
