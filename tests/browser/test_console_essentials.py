"""Day-one console faults, in a real browser: a transfer leaves the view cleanly, ratings show
as ratings, transcripts off still shows the live chat, safe links, previews after a reload,
the reply box limit, the MFA setup QR code, the operators' status column, and a click that comes
before the console's script has loaded."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from confide.access.models import Role
from confide.web.console.auth_pages import qr_code_svg
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    team_agent,
    visitor,
)
from tests.conftest import Account


async def _admin_api(site: Site, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = await site.world.headers(site.admin)
    response = await site.world.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)
    assert response.status_code < 300, response.text
    return response


@pytest.fixture
async def colleague(site: Site, team_agent: Account) -> Account:  # noqa: F811
    """A second agent of the Support group (the team agent's colleague)."""
    groups = (await _admin_api(site, "GET", "/groups")).json()["groups"]
    support = next(g["id"] for g in groups if g["name"] == "Support")
    import uuid

    return await site.world.operator(
        "kim",
        Role.AGENT,
        slug=site.workspace,
        groups=[uuid.UUID(support)],
        name="Kim Colleague",
        alias="Kim",
    )


async def test_a_transfer_to_a_colleague_leaves_the_view_with_a_notice(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    colleague: Account,
    screenshot: Any,
) -> None:
    conversation_id = await visitor.start("Can someone from billing help?")
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    await page.get_by_label("Reply to Vera Visitor").fill("Let me find a colleague.")
    await page.keyboard.press("Enter")
    await expect(page.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)

    await page.get_by_role("button", name="Transfer").first.click()
    await page.get_by_label("Transfer to").select_option(f"operator:{colleague.id}")
    await page.locator("#transfer-panel").get_by_role("button", name="Transfer").click()

    notice = page.get_by_role("status").filter(has_text="Transferred to Kim")
    await expect(notice).to_have_text(
        "Transferred to Kim. It is no longer in your inbox.", timeout=TIMEOUT_MS
    )
    # Nothing left that says "closed", "Reopen" or "with me"; the list forgot it too.
    await expect(page.locator("#conv-status")).to_have_count(0)
    await expect(page.get_by_role("button", name="Reopen")).to_have_count(0)
    await expect(page.locator("#composer")).to_have_count(0)
    await expect(page.locator("#conv-error")).to_have_count(0)
    await expect(page.locator(f'.conv-item[data-id="{conversation_id}"]')).to_have_count(0)
    await expect(page.locator("#count-open")).to_have_text("0")
    assert page.url.endswith("/console/")
    await screenshot(page, "console-transfer")
    detail = (await _admin_api(site, "GET", f"/conversations/{conversation_id}")).json()
    assert detail["assignee_id"] == str(colleague.id) and detail["status"] == "open"


async def test_a_rating_shows_as_a_rating_in_the_thread_and_the_list(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    conversation_id = await visitor.start("Where is my parcel?")
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    await page.get_by_label("Reply to Vera Visitor").fill("It arrives tomorrow.")
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Close", exact=True).click()
    await expect(page.locator("#conv-status")).to_have_text("closed", timeout=TIMEOUT_MS)

    rated = await visitor.http.post(
        f"/api/v1/widget/conversations/{conversation_id}/csat",
        json={"score": 4, "comment": "Quick and kind"},
        headers=visitor.headers,
    )
    assert rated.status_code == 200, rated.text
    # Live: the score and the comment, as one rating, not as a visitor message.
    rating = page.locator("#messages #rating")
    await expect(rating.locator(".rating-score")).to_have_text("4/5", timeout=TIMEOUT_MS)
    await expect(rating.locator(".msg-body")).to_have_text("Quick and kind")
    await expect(page.locator("#messages .msg--visitor .msg-body")).to_have_text(
        ["Where is my parcel?"]
    )
    item = page.locator(f'.conv-item[data-id="{conversation_id}"]')
    await expect(item.locator(".conv-rating")).to_have_attribute("aria-label", "Rated 4 out of 5")

    # After a reload, the server renders the same.
    await page.reload()
    await expect(rating.locator(".rating-score")).to_have_text("4/5")
    await expect(rating.locator(".msg-body")).to_have_text("Quick and kind")
    await expect(item.locator(".conv-rating")).to_have_attribute("aria-label", "Rated 4 out of 5")
    await expect(item.locator(".conv-preview")).to_have_text("Rating comment: Quick and kind")
    await screenshot(page, "console-rating")


async def test_with_transcripts_off_the_agent_sees_the_live_chat_and_a_notice(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    await _admin_api(site, "PUT", "/consent/requests/chat", json={"version": "1", "text": "OK?"})
    await _admin_api(
        site, "PATCH", "/workspace", json={"consent_required": True, "store_transcripts": False}
    )
    offered = (await visitor.http.get("/api/v1/widget/consent", headers=visitor.headers)).json()
    chat = next(r for r in offered["requests"] if r["purpose"] == "chat")
    granted = await visitor.http.post(
        "/api/v1/widget/consent",
        json={
            "purpose": "chat",
            "version": chat["version"],
            "text_hash": chat["text_hash"],
            "decision": "granted",
        },
        headers=visitor.headers,
    )
    assert granted.status_code == 201, granted.text
    conversation_id = await visitor.start("Is my question still here?")

    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await expect(page.locator("#messages .msg--visitor .msg-body")).to_have_text(
        "Is my question still here?"
    )
    await expect(page.locator("#transcripts-off")).to_contain_text("nothing here is recorded")
    await expect(page.get_by_role("button", name="Load earlier messages")).to_be_hidden()
    await page.locator('body[data-socket="online"]').wait_for()
    await page.get_by_label("Reply to Vera Visitor").fill("Yes, I can see it.")
    await page.keyboard.press("Enter")
    await expect(page.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)
    await screenshot(page, "console-transcripts-off")
    # Still nothing recorded, and closing drops what the relay held.
    stored = await _admin_api(site, "GET", f"/conversations/{conversation_id}/messages")
    assert stored.json()["messages"] == []
    await page.get_by_role("button", name="Close", exact=True).click()
    await expect(page.locator("#conv-status")).to_have_text("closed", timeout=TIMEOUT_MS)
    import uuid

    assert await site.rt.relay.recent(uuid.UUID(conversation_id)) == []


async def test_links_are_safe_previews_survive_a_reload_and_the_reply_box_has_the_server_limit(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
) -> None:
    conversation_id = await visitor.start(
        "See https://shop.example/orders/1042. And javascript:alert(1)"
    )
    page = await new_page()
    await sign_in(page, site, team_agent)
    item = page.locator(f'.conv-item[data-id="{conversation_id}"]')
    await expect(item.locator(".conv-preview")).to_have_text(
        "See https://shop.example/orders/1042. And javascript:alert(1)"
    )
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    await visitor.say(conversation_id, "Also http://tracking.example/x?id=7")
    links = page.locator("#messages .msg-body a")
    await expect(links).to_have_count(2, timeout=TIMEOUT_MS)
    for index, href in enumerate(
        ["https://shop.example/orders/1042", "http://tracking.example/x?id=7"]
    ):
        link = links.nth(index)
        await expect(link).to_have_attribute("href", href)
        await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    assert await page.locator('#messages a[href^="javascript"]').count() == 0
    limit = site.rt.settings.message_max_chars
    await expect(page.get_by_label("Reply to Vera Visitor")).to_have_attribute(
        "maxlength", str(limit)
    )
    # The newest message is the list preview after a reload, too.
    await page.reload()
    await expect(item.locator(".conv-preview")).to_have_text("Also http://tracking.example/x?id=7")
    favicon = await page.request.get(f"{site.url}/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"].startswith("image/svg+xml")


async def test_mfa_setup_shows_a_qr_code_and_a_way_out(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=1000, height=900)
    await sign_in(page, site, site.agent)
    await page.goto(f"{site.url}/console/mfa/enrol")
    qr = page.get_by_role("img", name="QR code of the setup key")
    await expect(qr).to_be_visible()
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150
    # It encodes the setup link shown below it (the same SVG segno draws for that link).
    uri = (await page.locator("code.wrap").text_content() or "").strip()
    assert uri.startswith("otpauth://totp/")
    drawn = await qr.evaluate(
        "node => [...node.querySelectorAll('path')].map(p => p.getAttribute('d'))"
    )
    expected = re.findall(r' d="([^"]+)"', str(qr_code_svg(uri)))
    assert drawn == expected and len(expected[-1]) > 200
    await screenshot(page, "console-mfa-setup")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_availability_survives_sign_out_and_the_team_page_shows_it_with_load(
    site: Site,
    new_page: NewPage,
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, team_agent)
    await page.get_by_role("button", name="Away").click()  # Sam becomes available
    await expect(page.locator("#presence")).to_have_attribute("aria-pressed", "true")
    # Availability survives signing out and in again: no "Away" unless Sam sets it.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await sign_in(page, site, team_agent)
    await expect(page.locator("#presence")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#presence")).to_have_text("Available")
    admin = await new_page(width=1280, height=800)
    await sign_in(admin, site, site.admin)
    await admin.goto(f"{site.url}/console/settings/operators")
    sam_row = admin.get_by_role("row").filter(has_text="Sam Support")
    await expect(sam_row.locator(".status-cell")).to_contain_text("available")
    await expect(sam_row.locator(".status-cell")).to_contain_text("0/5 chats")
    alex_row = admin.get_by_role("row").filter(has_text="Alex Agent")
    await expect(alex_row.locator(".status-cell")).to_contain_text("away")
    await screenshot(admin, "console-operators")
    await admin.goto(f"{site.url}/console/settings/operators/{site.agent.id}")
    await expect(admin.get_by_text("Not locked.")).to_be_visible()
    await expect(admin.get_by_role("button", name="Unlock sign-in")).to_have_count(0)


async def test_availability_clicked_before_the_console_script_ran_is_not_lost(
    site: Site,
    new_page: NewPage,
    team_agent: Account,  # noqa: F811
) -> None:
    # On a slow connection the inbox's HTML shows the toggle before its module script runs; a
    # click then must wait for the script (the toggle is rendered disabled), not vanish.
    page = await new_page(width=1280, height=800)

    async def late(route: Any) -> None:
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route("**/static/console/inbox.js", late)
    await sign_in(page, site, team_agent)
    await expect(page.locator("#presence")).to_be_disabled()
    await page.get_by_role("button", name="Away").click()
    await expect(page.locator("#presence")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#presence")).to_have_text("Available")
