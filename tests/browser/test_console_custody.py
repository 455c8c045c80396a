"""Settings → Access and Settings → Legal holds in a real browser, keyboard only: an admin
grants support access, sees it listed and revokes it; places and lifts a hold."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from confide.access.models import Role
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import sign_in


async def test_an_admin_grants_and_revokes_support_access_and_a_hold(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    await site.world.operator("sam", Role.SUPPORT, slug=None)
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/access")
    await page.get_by_label("Support account").fill("sam")
    await page.get_by_label("Scope", exact=True).select_option("conversations_read")
    await page.get_by_label("Duration in hours").fill("8")
    await page.get_by_label("Reason", exact=True).fill("Ticket 2024: transcripts look empty")
    await page.get_by_label("Reason", exact=True).press("Enter")  # the keyboard submits the form
    row = page.locator("tr", has_text="Ticket 2024")
    await expect(row.locator(".chip")).to_have_text("live")
    await row.scroll_into_view_if_needed()
    await screenshot(page, "console-access")
    await row.get_by_role("button", name="Revoke").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("tr", has_text="Ticket 2024").locator(".chip")).to_have_text(
        "revoked"
    )

    await page.goto(f"{site.url}/console/settings/legal-holds")
    await page.get_by_label("Hold", exact=True).select_option("filter")
    await page.get_by_label("Channel (web, social, call, sms, video)").fill("web")
    await page.get_by_label("Reason", exact=True).fill("Regulator inquiry 12")
    await page.get_by_role("button", name="Place hold").click()
    held = page.locator("li.row", has_text="Regulator inquiry 12")
    await expect(held.locator(".chip")).to_have_text("active")
    await screenshot(page, "console-legal-holds")
    await held.get_by_label("Reason for lifting").fill("Inquiry closed")
    await held.get_by_role("button", name="Lift").click()
    await expect(page.locator("li.row", has_text="Regulator inquiry 12")).to_contain_text(
        "lifted: Inquiry closed"
    )
