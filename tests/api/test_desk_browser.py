"""The service desk in a real Chromium: a conversation across SMS and e-mail, the customer
page, the queue's search, bulk actions, live updates and keys, in English and in
Japanese at phone width. Screenshots go to test-output/screenshots/desk-*.png."""

from __future__ import annotations

import json
import re
import smtplib
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from core.profiles import load_profiles
from tests.api.test_browser import SHOTS, browser, shot
from tests.api.world import INBOUND_SECRET, PASSWORD, World, open_case, open_case_for
from tests.conftest import free_port
from tickets.inbound_mail import MailEndpoint
from tickets.inbox import accept
from tickets.signing import headers as signed

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the other browser tests
PHONE = {"width": 360, "height": 740}
CONTRAST_JS = """el => {
  const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = c => { const v = c.map(x => x / 255).map(x => x <= 0.03928 ? x / 12.92
    : Math.pow((x + 0.055) / 1.055, 2.4)); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const s = getComputedStyle(el), a = lum(rgb(s.color)), b = lum(rgb(s.backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

LOW_CONTRAST_JS = """() => {
  const rgba = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => x / 255).map(x => x <= 0.03928 ?
    x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const background = el => { for (; el; el = el.parentElement) {
      const c = rgba(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c; }
    return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || el.closest("svg")) continue;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none") continue;
    const a = lum(rgba(s.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 &&
      Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(el.tagName + "." + el.className + " " +
      ratio.toFixed(2) + " " + el.textContent.trim().slice(0, 30));
  }
  return bad;
}"""


FLOWS = {
    "desk-01/02/03": "agent writes by SMS with the KB answer; replies arrive by SMS (signed "
    "webhook) and e-mail (SMTP endpoint) in one thread; the customer page lists all",
    "desk-04": "assign list shows skills, languages, load; a misfit needs a reason",
    "desk-05": "queue: live update keeps the filter, / search, bulk acknowledge, j + Enter",
    "desk-06/07/08": "Japanese at 360 px: no overflow, skip link, badge contrast, language "
    "switch keeps filters, writing in Japanese, a stale repeated action, fleet/customer/device",
    "desk-09": "time zone on /me: case header, 'Why this case', chart ticks, zone and hover "
    "values in the user's zone (JST), in Japanese",
    "desk-10": "a case opened by hand from the queue (a customer called about a silent device)",
}


@pytest.fixture(scope="module", autouse=True)
def flow_note(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: the flows and where their screenshots are, in the test output."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    lines = ["", "service-desk browser flows (screenshots in test-output/screenshots/):"]
    lines += [f"  {shots}-*.png: {flow}" for shots, flow in FLOWS.items()]
    lines += [f"    {path}" for path in sorted(SHOTS.glob("desk-*.png"))]
    with capture.global_and_fixture_disabled():
        for line in lines:
            reporter.write_line(line)


def open_page(
    browser: Browser,
    base_url: str,
    user: str,
    locale: str = "en-US",
    viewport: dict[str, int] | None = None,
) -> Page:
    context = browser.new_context(
        base_url=base_url, viewport=viewport or {"width": 1280, "height": 900}, locale=locale
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("h1")).to_be_visible()
    return page


def no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"  # type: ignore[index]


def sms_from(base_url: str, sender: str, text: str) -> httpx.Response:
    raw = json.dumps({"from": sender, "text": text}).encode()
    head = signed(INBOUND_SECRET, int(time.time()), raw) | {"Content-Type": "application/json"}
    return httpx.post(f"{base_url}/hooks/inbound/sms", content=raw, headers=head, timeout=10)


@pytest.fixture(scope="module")
def two_channel_case(world: World) -> int:
    """A customer reachable by SMS first and e-mail second, with one open case."""
    customer = {
        "id": "c-both",
        "name": "Maria Lopez",
        "locale": "en",
        "timezone": "Europe/Madrid",
        "contacts": [
            {"channel": "sms", "url": "log://sms/+34600111222"},
            {"url": "mailto://maria@example.com"},
        ],
    }
    return open_case_for(world, customer, "ac-both")


def test_agent_writes_by_sms_and_replies_arrive_by_sms_and_email(
    browser: Browser, base_url: str, world: World, two_channel_case: int
) -> None:
    page = open_page(browser, base_url, "agent")
    page.goto(f"/cases/{two_channel_case}")
    expect(page.locator("#conversation")).to_contain_text("Reaches the customer by SMS")
    page.locator("#insert-kb").click()
    expect(page.locator("#reply-text")).to_have_value(re.compile("filter", re.IGNORECASE))
    expect(page.locator("#sms-count")).to_contain_text(re.compile(r"^[12] SMS segment"))
    page.locator("#reply-text").fill("Please check the filter tonight; reply here if unsure.")
    shot(page, "desk-01-case-writing")
    page.locator("button[data-action=write]").click()
    outgoing = page.locator("#thread li[data-direction=out]")
    expect(outgoing).to_have_count(1)
    expect(outgoing.first).to_have_attribute("data-channel", "sms")

    assert sms_from(base_url, "+34 600 111 222", "It was dusty, cleaned it.").status_code == 202
    port = free_port()
    profiles = load_profiles()
    endpoint = MailEndpoint(
        lambda m: accept(world.session_factory, profiles, m, time.time), "127.0.0.1", port, 65536
    )
    endpoint.start()
    try:
        mail = EmailMessage()
        mail["From"], mail["To"] = "maria@example.com", "service@kizuki.example"
        mail["Subject"] = f"Re: [Case #{two_channel_case}] filter"
        mail.set_content("Also: the remote shows E4.\n\n> Please check the filter tonight")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.send_message(mail)
    finally:
        endpoint.stop()
    page.reload()
    incoming = page.locator("#thread li[data-direction=in]")
    expect(incoming).to_have_count(2)
    expect(incoming.nth(0)).to_have_attribute("data-channel", "sms")
    expect(incoming.nth(1)).to_have_attribute("data-channel", "email")
    expect(incoming.nth(1)).to_contain_text("the remote shows E4.")
    expect(page.locator("#timeline li[data-kind=message_in]")).to_have_count(2)
    shot(page, "desk-02-thread-sms-and-email")

    page.locator("#customer-link").click()
    expect(page.locator("#customer-name")).to_contain_text("Maria Lopez")
    expect(page.locator("#history li[data-kind=message]")).to_have_count(3)
    expect(page.locator("#contacts li")).to_have_count(2)
    shot(page, "desk-03-customer-page")
    page.context.close()


def test_assign_list_shows_fit_and_refuses_a_misfit_without_a_reason(
    browser: Browser, base_url: str, world: World
) -> None:
    page = open_page(browser, base_url, "agent")
    page.goto(f"/cases/{world.cases['bearing']}")  # a pump case for a Japanese customer
    options = page.locator("#assign-agent option")
    expect(options.filter(has_text="Kenji Yamamoto")).to_have_attribute("data-fits", "true")
    haruto = options.filter(has_text="Haruto Sato")
    expect(haruto).to_have_attribute("data-fits", "false")
    expect(haruto).to_contain_text("lacks pumps, pump mechanics")
    page.locator("#assign-agent").select_option(label=haruto.inner_text().strip())
    page.locator("button[data-action=assign]").click()
    expect(page.locator("#flash")).to_contain_text("give a reason to assign anyway")
    expect(page.locator("#case-assignee")).not_to_have_text("Haruto Sato")
    page.locator("#assign-agent").select_option(label=haruto.inner_text().strip())
    page.locator("input[name=override]").fill("covering the pump round today")
    page.locator("button[data-action=assign]").click()
    expect(page.locator("#case-assignee")).to_have_text("Haruto Sato")
    expect(page.locator("#timeline li[data-kind=assign_override]")).to_contain_text(
        "covering the pump round today"
    )
    shot(page, "desk-04-assign-override")
    page.context.close()


def test_queue_search_bulk_live_updates_and_keys(
    browser: Browser, base_url: str, world: World
) -> None:
    page = open_page(browser, base_url, "agent")
    page.clock.install()
    page.goto("/cases?severity=medium")
    rows = page.locator("tr.case-row")
    before = rows.count()
    open_case(world)  # a medium case arrives while the agent watches the filtered queue
    page.clock.fast_forward(25_000)
    expect(rows).to_have_count(before + 1)
    assert page.url.endswith("/cases?severity=medium")

    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.locator("#search").fill("PUMP-0001")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"q=PUMP-0001"))
    expect(page).to_have_url(re.compile(r"severity=medium"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pump-0001")

    page.goto("/cases?severity=medium")
    page.locator("#select-all").check()
    page.locator("#bulk-action").select_option("acknowledge")
    page.locator("button[data-action=bulk]").click()
    expect(page.locator("#flash")).to_contain_text(re.compile(r"[1-9]\d* case\(s\) updated"))
    expect(page).to_have_url(re.compile(r"/cases\?severity=medium$"))
    shot(page, "desk-05-queue-bulk")

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    expect(rows.first).to_have_class(re.compile("current"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    page.context.close()


def test_japanese_at_phone_width(browser: Browser, base_url: str, world: World) -> None:
    page = open_page(browser, base_url, "agent", "ja-JP", PHONE)
    page.goto("/cases?lang=ja&severity=high")
    expect(page.get_by_role("heading", name="ケース一覧")).to_be_visible()
    no_overflow(page)
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    expect(page.locator("a.skip")).to_have_text("本文へ移動")
    for badge in ("medium", "low", "high", "critical"):
        page.goto(f"/cases?severity={badge}&status=all")
        if page.locator(f".sev.sev-{badge}").count():
            ratio = page.locator(f".sev.sev-{badge}").first.evaluate(CONTRAST_JS)
            assert ratio >= 4.5, (badge, ratio)
    page.goto("/cases?severity=high")
    shot(page, "desk-06-queue-ja-phone")
    page.get_by_role("button", name="English").click()
    expect(page).to_have_url(re.compile(r"/cases\?severity=high$"))
    page.get_by_role("button", name="日本語").click()

    page.goto(f"/cases/{world.cases['bearing']}")
    no_overflow(page)
    expect(page.locator("#conversation h2")).to_have_text("お客様とのやり取り")
    page.locator("#reply-text").fill("明日伺います。")
    page.locator("button[data-action=write]").click()
    expect(page.locator("#thread li[data-direction=out]").last).to_contain_text("明日伺います。")
    shot(page, "desk-07-case-ja-phone")
    fresh = open_case(world)
    stale = page.context.new_page()
    stale.goto(f"/cases/{fresh}")
    page.goto(f"/cases/{fresh}")
    page.locator("button[data-action=acknowledge]").click()
    expect(page.locator("#case-status")).to_contain_text("確認済み")
    stale.locator("button[data-action=acknowledge]").click()  # again, from a stale tab
    expect(stale).to_have_url(re.compile(rf"/cases/{fresh}$"))
    expect(stale.locator("#flash")).to_have_text("このケースはすでに確認済みです。")

    for path in ("/fleet", "/customers/c-0001", "/devices/ac-00001", "/me", "/cases?status=all"):
        page.goto(path)
        no_overflow(page)
    shot(page, "desk-08-device-ja-phone")
    page.context.close()


def test_times_and_charts_in_the_users_zone(browser: Browser, base_url: str, world: World) -> None:
    page = open_page(browser, base_url, "admin", "ja-JP")
    page.goto("/me?lang=ja")
    page.locator("#profile-timezone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="保存").click()
    page.goto(f"/cases/{world.cases['filter']}")
    expect(page.locator("main")).to_contain_text("JST")
    why = page.locator("p.why").filter(has_text="JST")
    expect(why).to_have_count(1)  # when the limit will be reached, in Tokyo time
    chart = page.locator("svg.chart")
    expect(chart.locator("text.zone")).to_have_text("JST")
    ticks = chart.locator("text.tick").all_text_contents()
    assert ticks and all(re.fullmatch(r"\d\d-\d\d( \d\d:00)?", t) for t in ticks), ticks
    hovers = chart.locator(".hover circle title").all_text_contents()  # the pointer's text
    assert hovers and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d JST: ", h) for h in hovers)
    visible = page.locator("main").inner_text()
    assert "UTC" not in visible
    shot(page, "desk-09-case-in-tokyo-time-ja")
    page.set_viewport_size(PHONE)
    for path in ("/admin", f"/cases/{world.cases['filter']}"):
        page.goto(path)
        no_overflow(page)
    expect(page.locator("main")).to_contain_text("JST")
    page.goto("/me")
    page.locator("#profile-timezone").select_option("UTC")
    page.get_by_role("button", name="保存").click()
    page.context.close()


def test_an_agent_opens_a_case_by_hand(browser: Browser, base_url: str, world: World) -> None:
    page = open_page(browser, base_url, "agent")
    page.goto("/cases")
    page.locator("#new-case summary").click()
    page.locator("#new-device").fill("wh-00001")
    page.locator("#new-note").fill("Customer called: no hot water since last night.")
    page.locator("button[data-action=new-case]").click()
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    entry = page.locator("li[data-kind=opened_by_hand]")
    expect(entry).to_contain_text("Customer called: no hot water since last night.")
    shot(page, "desk-10-case-opened-by-hand")
    page.goto("/cases?q=wh-00001")
    expect(page.locator("tr.case-row")).to_have_count(1)
    page.context.close()


def test_every_text_on_the_desk_pages_meets_wcag_aa_contrast(
    browser: Browser, base_url: str, world: World
) -> None:
    """WCAG AA: 4.5:1 for text, 3:1 for large text, on each page an agent lives in."""
    page = open_page(browser, base_url, "agent")
    paths = ["/cases", f"/cases/{world.cases['filter']}", "/customers/c-0001", "/fleet", "/me"]
    paths += ["/devices/ac-00001", "/cases?lang=ja", "/login"]
    failures = {}
    for path in paths:
        page.goto(path)
        if bad := page.evaluate(LOW_CONTRAST_JS):
            failures[path] = bad
    page.evaluate(  # the check itself must catch pale grey on white
        "() => { const p = document.createElement('p'); p.textContent = 'pale';"
        " p.style.color = '#aaaaaa'; document.querySelector('main').append(p); }"
    )
    assert any("pale" in line for line in page.evaluate(LOW_CONTRAST_JS))
    page.goto("/cases?lang=en")
    page.context.close()
    assert not failures, failures
