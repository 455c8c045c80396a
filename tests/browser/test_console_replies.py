"""Saved replies in a real browser: added on the Replies page, inserted with /shortcut."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    team_agent,
    visitor,
)
from tests.conftest import Account


async def test_a_saved_reply_is_inserted_with_its_shortcut(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.get_by_role("link", name="Replies").click()
    await page.get_by_label("Shortcut").fill("refund")
    await page.get_by_label("Text").fill("Your refund is on its way: 3-5 working days.")
    await page.get_by_role("button", name="Save reply").click()
    await expect(page.get_by_role("status")).to_have_text("Reply saved.")
    await expect(page.get_by_role("cell", name="/refund", exact=True)).to_be_visible()
    # Agents keep personal replies only: no "For" choice.
    await expect(page.get_by_label("For")).to_have_count(0)

    conversation_id = await visitor.start("Where is my money?")
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    box = page.get_by_label("Reply to Vera Visitor")
    await box.press_sequentially("Hello! /ref")
    option = page.get_by_role("option", name="/refund")
    await expect(option).to_be_visible()
    await screenshot(page, "console-saved-reply")
    await box.press("Enter")  # inserts, does not send
    await expect(box).to_have_value("Hello! Your refund is on its way: 3-5 working days.")
    await expect(page.get_by_role("listbox", name="Saved replies")).to_be_hidden()
    await expect(page.locator("#messages .msg--operator")).to_have_count(0)
    await box.press("Enter")  # now it sends
    await expect(page.locator("#messages .msg--operator .msg-body")).to_have_text(
        "Hello! Your refund is on its way: 3-5 working days.", timeout=TIMEOUT_MS
    )
