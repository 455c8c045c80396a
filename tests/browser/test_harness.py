"""The harness itself: chromium starts, Confide's pages load under their CSP, nothing leaks."""

from __future__ import annotations

from playwright.async_api import Request

from tests.browser.conftest import NewPage, Site


async def test_console_login_page_loads_only_from_confide(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request))
    response = await page.goto(f"{site.url}/console/login")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp
    await page.get_by_label("Username").wait_for()
    assert {r.resource_type for r in seen} >= {"document", "stylesheet"}
    assert all(r.url.startswith(site.url) for r in seen)
