"""/api/docs in a real Chromium, offline, under the app's Content-Security-Policy: Swagger
UI must draw the operations, not a blank page. Screenshot: test-output/screenshots/
docs-01-swagger-ui.png."""

from __future__ import annotations

from playwright.sync_api import Page, Route, expect

from tests.api.test_browser import browser, page, shot

__all__ = ["browser", "page"]  # the fixtures, shared with the agent's-morning test


def test_swagger_ui_renders_the_operations_under_the_csp(page: Page, base_url: str) -> None:
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text) if msg.type == "error" else None)
    outside: list[str] = []

    def offline(route: Route) -> None:  # anything not from Kizuki fails, as offline
        outside.append(route.request.url)
        route.abort()

    page.route(lambda url: not url.startswith(base_url), offline)
    response = page.goto("/api/docs")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path[data-path='/api/v1/cases']").first).to_be_visible()
    assert operations.count() >= 25
    page.locator(".opblock-summary-path[data-path='/api/v1/cases']").first.click()
    expect(page.locator(".opblock-description-wrapper").first).to_be_visible()
    shot(page, "docs-01-swagger-ui")
    assert not outside, outside
    assert not [text for text in refused if "Content Security Policy" in text], refused
