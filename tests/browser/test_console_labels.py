"""Labels in a real browser: defined in Settings, set on a conversation, filtering the inbox."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    team_agent,
    visitor,
)


async def test_an_admin_labels_a_conversation_and_filters_the_inbox(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    screenshot: Any,
) -> None:
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/labels")
    for name in ("Billing", "Bug"):
        await page.get_by_label("Name").fill(name)
        await page.get_by_role("button", name="Add label").click()
        await expect(page.locator(".chip", has_text=name)).to_be_visible()

    labelled = await visitor.start("My invoice is wrong.")
    async with httpx.AsyncClient(base_url=site.url) as http:
        created = (await http.post(f"/api/v1/widget/{site.workspace}/visitors")).json()
        other = Visitor(http, created["token"], created["vuid"])
        unlabelled = await other.start("Hello?")

    await page.goto(f"{site.url}/console/conversations/{labelled}")
    await page.get_by_role("button", name="Labels").click()
    await page.get_by_label("Billing").check()
    await page.get_by_role("button", name="Save labels").click()
    await expect(page.locator("#conv-labels .chip")).to_have_text(["Billing"], timeout=TIMEOUT_MS)

    await page.goto(f"{site.url}/console/")
    await page.get_by_label("Label", exact=True).select_option(label="Billing")
    await page.wait_for_url("**/console/?label=*")
    await expect(page.locator(f'.conv-item[data-id="{labelled}"] .chip')).to_have_text("Billing")
    await expect(page.locator(f'.conv-item[data-id="{unlabelled}"]')).to_have_count(0)
    await screenshot(page, "console-labels")
    # The filter stays on when a conversation is opened from the filtered list.
    await page.locator(f'.conv-item[data-id="{labelled}"] a').click()
    await expect(page.get_by_label("Label", exact=True)).to_have_value(
        await page.locator("#label-select option", has_text="Billing").get_attribute("value") or ""
    )
