"""An admin's console on a 390 px phone: every section reachable, nothing wider than the screen
(found by a trial: seven sections and Sign out made the bottom bar 484 px wide)."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in


async def test_an_admins_console_fits_a_390_px_phone(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=390, height=844)
    await sign_in(page, site, site.admin)
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    for path in ("/console/", "/console/settings/privacy", "/console/settings/retention"):
        await page.goto(f"{site.url}{path}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        for name in ("Inbox", "Settings", "Account", "Sign out"):
            box = await page.locator(".rail").get_by_text(name, exact=True).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, name
    await screenshot(page, "console-admin-phone")
