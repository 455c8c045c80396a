"""Search in a real browser: words of encrypted transcripts and the visitor's e-mail."""

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
from tests.conftest import Account


async def test_an_agent_finds_a_conversation_by_a_word_but_not_by_e_mail(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    wanted = await visitor.start("My parcel to Oslo never arrived.")
    async with httpx.AsyncClient(base_url=site.url) as http:
        created = (await http.post(f"/api/v1/widget/{site.workspace}/visitors")).json()
        other = await Visitor(http, created["token"], created["vuid"]).start("Parcel to Bergen?")
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.get_by_role("link", name="Search").click()
    await page.get_by_label("Words in the conversation").fill("parcel OSLO")
    await page.get_by_role("button", name="Search").click()
    results = page.locator("#search-results .conv-item")
    await expect(results).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(results.first).to_have_attribute("data-id", wanted)
    await screenshot(page, "console-search")

    await page.get_by_label("Words in the conversation").fill("parcel")
    await page.get_by_role("button", name="Search").click()
    await expect(results).to_have_count(2)
    # Dates: nothing was started on or before 1 January 2001.
    await page.get_by_label("Started on or before").fill("2001-01-01")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_text("Nothing found.")).to_be_visible()
    await page.get_by_label("Started on or before").fill("")
    # Agents do not see visitors' addresses, so they cannot search by one either.
    await expect(page.get_by_label("Visitor e-mail")).to_have_count(0)
    await page.get_by_label("Words in the conversation").fill("parcel OSLO")
    await page.get_by_role("button", name="Search").click()
    await expect(results).to_have_count(1)
    assert await results.first.get_attribute("data-id") == wanted != other
    await results.first.locator("a").click()
    await expect(page.locator("#messages .msg-body")).to_have_text(
        "My parcel to Oslo never arrived."
    )
