"""The widget stores nothing in the visitor's browser before they open it, unless an engagement
rule that needs the page-view count or the visit's start is configured (docs/widget.md)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import NewPage, Site

STORED_KEYS = """() => {
  const keys = (store) => Object.keys(store).filter((k) => k.startsWith("confide."));
  return {local: keys(localStorage).sort(), session: keys(sessionStorage).sort()};
}"""
WIDGET_READY = "() => new Promise((resolve) => window.Confide.on('ready', () => resolve(true)))"


async def _load(page: Page, site: Site) -> dict[str, Any]:
    await page.goto(f"{site.url}/demo/{site.workspace}")
    await page.wait_for_function("() => window.Confide && window.Confide.on")
    assert await page.evaluate(WIDGET_READY) is True
    stored: dict[str, Any] = await page.evaluate(STORED_KEYS)
    return stored


async def _rules(site: Site, rules: list[dict[str, Any]]) -> None:
    headers = await site.world.headers(site.admin)
    response = await site.world.client.patch(
        "/api/v1/workspace/widget", json={"engagement_rules": rules}, headers=headers
    )
    assert response.status_code == 200, response.text


async def test_loading_pages_stores_nothing_until_the_visitor_opens_the_widget(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    assert await _load(page, site) == {"local": [], "session": []}
    assert await _load(page, site) == {"local": [], "session": []}  # a second page view
    # A rule without a count or a delay (language, path) needs nothing stored either.
    await _rules(site, [{"message": "Hello there", "path_prefix": "/demo"}])
    assert await _load(page, site) == {"local": [], "session": []}
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(page.get_by_role("dialog", name="Chat with us")).to_be_visible()
    views = f"confide.{site.workspace}.views"
    stored = await page.evaluate(STORED_KEYS)
    assert stored == {"local": [views], "session": [f"confide.{site.workspace}.start"]}
    assert await page.evaluate(f"JSON.parse(localStorage.getItem('{views}'))") == 1


async def test_a_rule_counting_page_views_stores_the_count_from_the_first_page(
    site: Site, new_page: NewPage
) -> None:
    await _rules(site, [{"message": "Still looking?", "min_page_views": 2}])
    page = await new_page()
    first = await _load(page, site)
    assert first["local"] == [f"confide.{site.workspace}.views"]
    assert first["session"] == [f"confide.{site.workspace}.start"]
    await _load(page, site)
    # The second page view reaches the rule's threshold: the greeting shows.
    await expect(page.get_by_role("button", name="Still looking?")).to_be_visible()
