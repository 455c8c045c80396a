"""Channels and engagement rules set up in the console, without the API."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import sign_in


async def test_an_admin_sets_up_sms_and_rotates_its_secret(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=1280, height=900)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/channels")
    sms = page.locator("section", has=page.get_by_role("heading", name="SMS"))
    await expect(sms).to_contain_text(f"/api/v1/hooks/{site.workspace}/sms")
    await sms.get_by_label("Reply URL").fill("ftp://bridge.example/replies")
    await sms.get_by_role("button", name="Set up SMS").click()
    await expect(page.locator("#err-outbound_url-sms")).to_be_visible()
    sms = page.locator("section", has=page.get_by_role("heading", name="SMS"))
    await sms.get_by_label("Reply URL").fill("http://127.0.0.1:9/replies")
    await sms.get_by_role("button", name="Set up SMS").click()
    first = (await page.locator("#channel-secret").text_content() or "").strip()
    assert len(first) >= 32
    sms = page.locator("section", has=page.get_by_role("heading", name="SMS", exact=True))
    await sms.get_by_role("button", name="Rotate the signing secret").click()
    second = (await page.locator("#channel-secret").text_content() or "").strip()
    assert len(second) >= 32 and second != first
    await page.goto(f"{site.url}/console/settings/channels")
    await expect(page.locator("#channel-secret")).to_have_count(0)  # shown once only
    await screenshot(page, "console-channels")  # (no secret on it)
    listed = await site.world.client.get(
        "/api/v1/channels", headers=await site.world.headers(site.admin)
    )
    [endpoint] = listed.json()["channels"]
    assert endpoint["channel"] == "sms" and endpoint["outbound_url"] == "http://127.0.0.1:9/replies"


async def test_an_admin_edits_engagement_rules_on_the_widget_page(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page(width=1280, height=900)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/widget")
    await page.get_by_label("Message of rule 1").fill("Questions about pricing?")
    await page.get_by_label("After seconds, rule 1").fill("abc")
    await page.get_by_role("button", name="Save widget settings").click()
    await expect(page.locator("#err-engagement_rules")).to_contain_text("Line 1")
    await page.get_by_label("After seconds, rule 1").fill("20")
    await page.get_by_label("Path prefix, rule 1").fill("/pricing")
    await page.get_by_label("Languages, rule 1").fill("en, fr")
    await page.get_by_role("button", name="Save widget settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    stored = await site.world.client.get(
        "/api/v1/workspace/widget", headers=await site.world.headers(site.admin)
    )
    [rule] = stored.json()["engagement_rules"]
    assert rule["message"] == "Questions about pricing?" and rule["after_seconds"] == 20
    assert rule["path_prefix"] == "/pricing" and rule["languages"] == ["en", "fr"]
    # Clearing the message deletes the rule.
    await page.get_by_label("Message of rule 1").fill("")
    await page.get_by_role("button", name="Save widget settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    stored = await site.world.client.get(
        "/api/v1/workspace/widget", headers=await site.world.headers(site.admin)
    )
    assert stored.json()["engagement_rules"] == []
