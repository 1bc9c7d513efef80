"""The newcomer's path in a real Chromium: `kizuki demo`, the queue's SLA states after the
replay, the Demo inbox, a reply *as the customer* on their channel, the agent's answer
from the case page, and that answer delivered on the same channel. Screenshots:
test-output/screenshots/demo-*.png."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.api.test_browser import browser, shot
from tests.e2e.test_demo_inbox import running_demo

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the other browser tests


def delivered(page: Page, column: Locator, text: str, limit_s: float = 60) -> None:
    """Reload the inbox until ``column`` shows ``text`` (the dispatcher sends it)."""
    deadline = time.monotonic() + limit_s
    while column.get_by_text(text).count() == 0:
        assert time.monotonic() < deadline, f"{text!r} was not delivered in {limit_s} s"
        page.wait_for_timeout(500)
        page.reload()


def test_a_newcomer_answers_a_customer_on_their_channel(browser: Browser, tmp_path: Path) -> None:
    with running_demo(tmp_path) as base:
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Case queue")).to_be_visible()
        expect(page.locator(".sla").first).to_contain_text("due in")
        expect(page.locator(".sla.overdue")).to_have_count(0)  # SLA clocks start live
        shot(page, "demo-01-queue-after-replay")

        page.get_by_role("link", name="Demo inbox").click()
        columns = page.locator("section.inbox-col:has(article.inbox-item)")
        expect(columns.first).to_be_visible()
        column = columns.first
        channel = column.get_attribute("data-channel")
        shot(page, "demo-02-inbox")
        notice = column.locator("article.inbox-item").first
        case_id = notice.get_attribute("data-case")
        notice.locator("textarea").fill("The noise is back since this morning.")
        notice.get_by_role("button", name="Send as customer").click()

        expect(page).to_have_url(re.compile(rf"/cases/{case_id}#conversation$"))
        came_in = page.locator(f"#thread li[data-direction=in][data-channel={channel}]")
        expect(came_in.last).to_contain_text("The noise is back since this morning.")
        expect(page.locator("#thread li[data-author=bot]").first).to_be_visible()
        page.locator("#reply-text").fill("A technician will call you within the hour.")
        shot(page, "demo-03-case-customer-reply")
        page.locator("button[data-action=write]").click()
        mine = page.locator("#thread li[data-direction=out][data-author='user:demo']")
        expect(mine.last).to_have_attribute("data-channel", str(channel))

        page.get_by_role("link", name="Demo inbox").click()
        column = page.locator(f"section.inbox-col[data-channel={channel}]")
        delivered(page, column, "A technician will call you within the hour.")
        shot(page, "demo-04-inbox-answer-delivered")
        context.close()

        phone = browser.new_context(base_url=base, viewport={"width": 360, "height": 740})
        page = phone.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill("demo")
        page.get_by_label("Password").fill("demo")
        page.get_by_role("button", name="Log in").click()
        page.goto("/demo/inbox?lang=ja")
        expect(page.get_by_role("heading", level=1)).to_have_text("デモ: お客様に届いた内容")
        expect(page.get_by_role("link", name="デモ受信箱")).to_be_visible()
        answered = page.locator(f"section.inbox-col[data-channel={channel}]")
        expect(answered.get_by_text("A technician will call you within the hour.")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the inbox is {width}px wide at 360px"
        shot(page, "demo-05-inbox-ja-phone")
        phone.close()
