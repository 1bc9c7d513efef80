"""A service agent's morning, in a real Chromium against a real uvicorn server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.world import PASSWORD, World

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(
        base_url=base_url, viewport={"width": 1280, "height": 900}, locale="en-US"
    )
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, username: str) -> None:
    page.goto("/cases")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    shot(page, "01-login")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Case queue")).to_be_visible()


def test_agent_triages_acknowledges_and_resolves_a_case(page: Page, world: World) -> None:
    log_in(page, "agent")
    rows = page.locator("tr.case-row")
    expect(rows).to_have_count(3)
    shot(page, "02-queue")

    page.get_by_label("Failure mode").select_option("filter_clog")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ac-00001")
    shot(page, "03-queue-filtered")

    rows.first.locator("a.case-title").click()
    case_id = world.cases["filter"]
    expect(page).to_have_url(re.compile(rf"/cases/{case_id}$"))
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator("polyline.series")).to_have_count(1)
    expect(chart.locator("rect.normal-band")).to_have_count(1)
    expect(chart.locator("line.limit")).to_have_count(1)
    expect(chart.locator("circle.eta")).to_have_count(1)
    expect(page.locator("#explanation")).to_contain_text("150")
    shot(page, "04-case")

    page.locator("button[data-action=acknowledge]").click()
    expect(page.locator("#case-status")).to_contain_text("acknowledged")
    acknowledged = page.locator("#timeline li[data-kind=acknowledge]")
    expect(acknowledged).to_have_attribute("data-actor", "user:agent")
    expect(acknowledged).to_contain_text("acknowledged")

    page.get_by_label("Add note").fill("Customer called; filter cleaned on site.")
    page.locator("button[data-action=note]").click()
    expect(page.locator("#timeline")).to_contain_text("filter cleaned on site")

    page.locator("#resolve-form select[name=code]").select_option("repaired_on_site")
    page.get_by_label("Resolution note (what was done)").fill("Filter cleaned on site.")
    expect(page.locator("#out-of-range")).to_contain_text("still out of range")
    page.get_by_label("Resolve anyway").check()
    page.locator("button[data-action=resolve]").click()
    expect(page.locator("#case-status")).to_contain_text("resolved")
    expect(page.locator("#timeline")).to_contain_text("Repaired on site")
    expect(page.locator("button[data-action=reopen]")).to_be_visible()
    shot(page, "05-case-resolved")


def test_viewer_sees_the_case_but_no_action_buttons(page: Page, world: World) -> None:
    log_in(page, "viewer")
    page.goto(f"/cases/{world.cases['refrigerant']}")
    expect(page.locator("svg.chart")).to_be_visible()
    expect(page.locator("button[data-action]")).to_have_count(0)


def test_pages_speak_japanese(page: Page, world: World) -> None:
    log_in(page, "agent")
    page.goto("/cases?lang=ja")
    expect(page.get_by_role("heading", name="ケース一覧")).to_be_visible()
    shot(page, "06-queue-ja")
    page.goto(f"/cases/{world.cases['filter']}")
    expect(page.get_by_role("heading", name="エアフィルターの目詰まり")).to_be_visible()
    expect(page.locator("#explanation")).to_contain_text("お客様が気づく限界値 150 Pa")
    expect(page.locator("#timeline li[data-kind=assigned]")).to_contain_text("最も負荷の少ない")
    shot(page, "07-case-ja")
    page.goto("/fleet")
    expect(page.locator("tr[data-model=aircon-x1]")).to_contain_text("1 受信途絶")
    expect(page.locator("tr[data-device=ac-00004]")).to_contain_text("受信途絶")
    shot(page, "08-fleet-ja")
    page.goto("/devices/ac-00001")
    expect(page.locator("svg.chart")).to_have_count(4)
    shot(page, "09-device-ja")


def test_sla_countdown_runs_in_the_page(page: Page, world: World) -> None:
    log_in(page, "viewer")
    sla = page.locator(f"tr[data-case-id='{world.cases['refrigerant']}'] .sla")
    expect(sla).to_contain_text("due in 23h")
    page.clock.install()
    page.reload()
    page.clock.fast_forward("25:00:00")  # a day later the high-severity case is overdue
    expect(sla).to_contain_text("overdue by")
    expect(sla).to_have_class(re.compile("overdue"))
