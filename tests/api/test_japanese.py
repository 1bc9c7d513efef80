"""Every page in Japanese, read the way a Japanese service agent reads it: no English left
in what the page says, except what is English on purpose (marked ``lang="en"``: a message
sent to an English-speaking customer, an error a channel returned) and identifiers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import select

from api.i18n import translator
from api.main import create_app
from api.timeline import routing_reason
from core.profiles import load_profiles
from tests.api.server import serve
from tests.api.test_failures import BuggyStore
from tests.api.test_web import HTML, csrf_of, log_in
from tests.api.world import World
from tickets.dispatcher import Dispatcher
from tickets.models import Agent, Customer, Notification, User
from tickets.routing import Need, route

# what the English interface says, and must not in Japanese
KNOWN_ENGLISH = [
    "Not Found",
    "Not found",
    "No case",
    "drifting",
    "least loaded",
    "skilled agents",
    "(agent)",
    "(viewer)",
    "standard",
    "e-mail",
    "due in",
    "overdue",
    "healthy",
    "degraded",
    "never heard",
    "silent",
    "Room air conditioner",
    "Log out",
    "expected",
    "trend",
    "limit",
    "open cases",
    "Something went wrong",
    "Forbidden",
    "assigned by",
    "notified",
    "delivered",
    "page 1",
    " ago",
    " d ",
    "Case queue",
    "Fleet",
    "Timeline",
    "Severity",
]
# words that are the same in both: names of things, units, acronyms
ALLOWED = {
    "Kizuki",
    "English",
    "SLA",
    "CSV",
    "UTC",
    "JST",
    "CUSUM",
    "SMS",
    "API",
    "LINE",
    "Slack",
    "Teams",
}


class VisibleText(HTMLParser):
    """Text and user-facing attributes, skipping scripts, styles and lang="en" parts."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "circle", "line", "rect", "polyline"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: is it skipped?

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        skip = (self.stack and self.stack[-1]) or tag in ("script", "style")
        skip = skip or found.get("lang") not in (None, "ja")
        if not skip:
            self.parts += [v or "" for k, v in attrs if k in ("title", "placeholder", "aria-label")]
        if tag not in self.VOID:
            self.stack.append(bool(skip))

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def _names(world: World) -> set[str]:
    """Words of names and ids the world holds: people, agents, customers, units, ids."""
    with world.session_factory() as session:
        texts = [
            *session.scalars(select(User.username)),
            *session.scalars(select(Agent.name)),
            *session.scalars(select(Agent.email)),
            *session.scalars(select(Customer.name)),
        ]
    for profile in load_profiles().values():
        texts += [spec.unit for spec in profile.metrics.values()]
    return {w for text in texts for w in re.findall(r"[A-Za-z]+", text)}


def english_words(text: str, names: set[str]) -> list[str]:
    """Latin words that are not identifiers (ac-00001, filter_dp_pa, URLs) nor names."""
    text = re.sub(r"\S*://\S+|\S+@\S+", " ", text)  # URLs and e-mail addresses
    tokens = re.findall(r"[A-Za-z0-9_.\-/]+", text)  # Asia/Tokyo is one identifier
    words = [t for t in tokens if t.isalpha() and len(t) >= 2]
    return sorted({w for w in words if w not in ALLOWED and w not in names})


@pytest.fixture(scope="module")
def ja_client(base_url: str, world: World) -> Iterator[httpx.Client]:
    Dispatcher(world.session_factory, world.settings.tickets).run_once()  # notices and attempts
    with httpx.Client(base_url=base_url, timeout=30, headers={"Accept-Language": "ja"}) as c:
        log_in(c, "agent")
        c.get("/cases?lang=ja")
        yield c


def _assert_japanese(html: str, world: World, where: str) -> None:
    text = visible(html)
    assert not [p for p in KNOWN_ENGLISH if p in text], (where, text)
    assert not english_words(text, _names(world)), (where, english_words(text, _names(world)))


def _pages(world: World) -> list[str]:
    cases = [f"/cases/{case}" for case in world.cases.values()]
    devices = ["/devices/ac-00001", "/devices/ac-00004", "/devices/wh-00001"]
    return ["/cases", "/cases?status=all&model=pump-p3", "/fleet", *cases, *devices]


def test_every_page_speaks_japanese(ja_client: httpx.Client, world: World) -> None:
    for path in _pages(world):
        response = ja_client.get(path, headers=HTML)
        assert response.status_code == 200, path
        _assert_japanese(response.text, world, path)


def test_the_explanation_and_routing_reason_are_japanese(
    ja_client: httpx.Client, world: World
) -> None:
    page = visible(ja_client.get(f"/cases/{world.cases['filter']}", headers=HTML).text)
    assert "フィルター差圧 の値は 109 Pa です(想定 55 Pa)。" in page
    assert "1日あたり +18 Pa 変化しています。" in page
    assert "お客様が気づく限界値 150 Pa に達する見込みです。" in page
    assert "対応できる担当者" in page and "最も負荷の少ない担当者" in page
    assert re.search(r"あと \d+日\d+時間", page)


def test_error_pages_speak_japanese(ja_client: httpx.Client, world: World) -> None:
    missing = ja_client.get("/cases/99999", headers=HTML)
    assert missing.status_code == 404 and "404 · 見つかりません" in missing.text
    _assert_japanese(missing.text, world, "404")
    page = ja_client.get(f"/cases/{world.cases['bearing']}", headers=HTML).text
    bad = ja_client.post(
        f"/cases/{world.cases['bearing']}/actions/assign",
        data={"csrf_token": csrf_of(page), "agent_id": "0"},
        headers=HTML,
    )
    assert bad.status_code == 422
    _assert_japanese(bad.text, world, "422")


def test_a_server_error_page_speaks_japanese(world: World) -> None:
    app = create_app(
        world.settings,
        world.session_factory,
        BuggyStore(),
        world.deadletters,
        case_service=world.service,
    )
    with serve(app) as url, httpx.Client(base_url=url, headers={"Accept-Language": "ja"}) as c:
        log_in(c, "viewer")
        page = c.get("/devices/ac-00001", headers=HTML)
        assert page.status_code == 500
        _assert_japanese(page.text, world, "500")


def test_public_pages_speak_japanese(base_url: str, world: World) -> None:
    with httpx.Client(base_url=base_url, headers={"Accept-Language": "ja"}) as stranger:
        _assert_japanese(stranger.get("/login").text, world, "/login")
        with world.session_factory() as session:
            notice = session.scalars(
                select(Notification).where(Notification.locale == "ja")
            ).first()
            assert notice is not None
        token = notice.feedback_token  # the link in the customer's message
        _assert_japanese(stranger.get(f"/feedback/{token}").text, world, "/feedback")


def test_the_check_catches_english(world: World) -> None:
    html = '<p>残り 3日 <span title="Clogged filter">x</span></p><p lang="en">Hello</p>'
    assert english_words(visible(html), _names(world)) == ["Clogged", "filter"]


@pytest.mark.parametrize(
    ("need", "japanese"),
    [
        (("air-conditioning", "no-such-skill", "ja"), "スキル「no-such-skill」に対応できる"),
        (("no-such-line", "", ""), "製品ライン「no-such-line」に対応できる"),
        (("air-conditioning", "", "fr"), "言語「fr」に対応できる"),
        (("air-conditioning", "", ""), "最も負荷の少ない担当者"),
    ],
)
def test_every_routing_reason_shape_is_said_in_japanese(
    world: World, need: tuple[str, str, str], japanese: str
) -> None:
    with world.session_factory() as session:
        reason = route(session, Need(*need)).reason  # the real router's words
    line = routing_reason(reason, translator("ja"))
    assert line.lang is None and japanese in line.text, reason
    assert routing_reason("a reason nobody wrote yet", translator("ja")).lang == "en"


@pytest.mark.parametrize(
    ("reason", "japanese"),
    [
        (
            "all 2 skilled agents at capacity (Sato, Emma)",
            "2 名が全員上限に達しています(Sato, Emma)",
        ),
        ("no active agents", "稼働中の担当者がいません"),
        ("assigned by user:agent", "agent が割り当て"),
        ("unassigned by key:ops", "APIキー ops が割り当てを解除"),
    ],
)
def test_routing_reasons_the_router_rarely_gives(reason: str, japanese: str) -> None:
    assert japanese in routing_reason(reason, translator("ja")).text
