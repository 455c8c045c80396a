"""The widget's Privacy menu in a real browser: withdrawing the chat consent pauses the chat
(nothing typed is sent, the ledger records the withdrawal) until the visitor consents again,
and access and erasure requests filed from the widget become cases admins see."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from playwright.async_api import Page, expect
from sqlalchemy import func, select

from confide.chat.models import Message
from tests.browser.conftest import NewPage, Site, save_screenshot
from tests.browser.test_console import TIMEOUT_MS, sign_in

CONSENT_TEXT = "We keep this conversation for one year to answer you. Do you agree?"
SHADOW = "document.getElementById('confide-widget').shadowRoot"
SUBMIT_IN_SHADOW = SHADOW + ".querySelector('form.composer').requestSubmit()"
PENDING_IN_SHADOW = SHADOW + ".querySelectorAll('.msg.me.pending').length"


async def _api(site: Site, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = await site.world.headers(site.admin)
    response = await site.world.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)
    assert response.status_code < 300, response.text
    return response


async def _open_demo(page: Page, site: Site) -> None:
    await page.goto(f"{site.url}/demo/{site.workspace}")
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(page.get_by_role("dialog", name="Chat with us")).to_be_visible()


async def _send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Write a message")
    await box.fill(text)
    await box.press("Enter")


async def _messages(site: Site) -> int:
    async with site.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def _vuid(page: Page, site: Site) -> str:
    raw = await page.evaluate(f"localStorage.getItem('confide.{site.workspace}')")
    vuid: str = json.loads(raw)["vuid"]
    return vuid


async def test_withdrawing_consent_pauses_the_chat_until_the_visitor_consents_again(
    site: Site, new_page: NewPage
) -> None:
    await _api(site, "PUT", "/consent/requests/chat", json={"version": "1", "text": CONSENT_TEXT})
    await _api(site, "PATCH", "/workspace", json={"consent_required": True})
    page = await new_page()
    await _open_demo(page, site)
    dialog = page.get_by_role("dialog")
    log = page.get_by_role("log", name="Messages")
    await dialog.get_by_role("button", name="Accept and chat").click()
    await _send(page, "Before withdrawing")
    await expect(log.get_by_text("Before withdrawing")).to_be_visible()
    await expect(log.locator(".msg.me.pending")).to_have_count(0)
    assert await _messages(site) == 1

    privacy = dialog.get_by_role("button", name="Privacy", exact=True)
    await expect(privacy).to_be_visible()
    await privacy.click()
    await expect(privacy).to_have_attribute("aria-expanded", "true")
    await dialog.get_by_role("button", name="Withdraw my consent").click()
    # A confirm step first: cancelling goes back to the menu.
    await expect(dialog.get_by_text("Withdraw your consent to this chat?")).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await dialog.get_by_role("button", name="Withdraw my consent").click()
    await dialog.get_by_role("button", name="Yes, withdraw").click()

    await expect(dialog.get_by_text("You withdrew your consent")).to_be_visible()
    await expect(dialog.get_by_text("nothing you type is sent")).to_be_visible()
    box = page.get_by_role("textbox", name="Write a message")
    await expect(box).to_be_disabled()
    await expect(box).to_have_attribute("placeholder", "Chat paused")
    await expect(dialog.get_by_role("button", name="Send message")).to_be_disabled()
    # What was said stays on screen.
    await expect(log.get_by_text("Before withdrawing")).to_be_visible()
    await save_screenshot(page, "widget-consent-withdrawn")

    # Submitting the composer anyway (a script, a stale key press) sends nothing: a send would
    # show a pending message at once, before any network call.
    await page.evaluate(SHADOW + ".querySelector('textarea').value = 'Typed after withdrawing'")
    await page.evaluate(SUBMIT_IN_SHADOW)
    assert await page.evaluate(PENDING_IN_SHADOW) == 0
    await expect(log.get_by_text("Typed after withdrawing")).to_have_count(0)
    assert await _messages(site) == 1

    # The ledger, read by an admin through the API, ends with the withdrawal.
    vuid = await _vuid(page, site)
    proof = (await _api(site, "GET", f"/visitors/{vuid}/consent-proof")).json()
    proof = proof.get("proof", proof)
    chat = [r["decision"] for r in proof["records"] if r["purpose"] == "chat"]
    assert chat == ["granted", "withdrawn"]
    assert proof["current_grants"]["chat"] is False

    # A reload keeps the chat paused: the history is shown, the composer stays disabled.
    await page.reload()
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(log.get_by_text("Before withdrawing")).to_be_visible()
    await expect(dialog.get_by_text("You withdrew your consent")).to_be_visible()
    await expect(box).to_be_disabled()

    # Consenting again resumes the same conversation, its history shown again.
    await dialog.get_by_role("button", name="Consent again").click()
    await expect(dialog.get_by_text(CONSENT_TEXT)).to_be_visible()
    await dialog.get_by_role("button", name="Accept and chat").click()
    await expect(log.get_by_text("Before withdrawing")).to_be_visible()
    await expect(box).to_be_enabled()
    await _send(page, "After consenting again")
    await expect(log.get_by_text("After consenting again")).to_be_visible()
    await expect(log.locator(".msg.me.pending")).to_have_count(0)
    assert await _messages(site) == 2
    proof = (await _api(site, "GET", f"/visitors/{vuid}/consent-proof")).json()
    proof = proof.get("proof", proof)
    assert proof["current_grants"]["chat"] is True


async def _withdraw(page: Page) -> None:
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Privacy", exact=True).click()
    await dialog.get_by_role("button", name="Withdraw my consent").click()
    await dialog.get_by_role("button", name="Yes, withdraw").click()
    await expect(dialog.get_by_text("You withdrew your consent")).to_be_visible()


async def test_the_agents_console_pauses_the_reply_box_when_the_visitor_withdraws(
    site: Site, new_page: NewPage
) -> None:
    await _api(site, "PUT", "/consent/requests/chat", json={"version": "1", "text": CONSENT_TEXT})
    await _api(site, "PATCH", "/workspace", json={"consent_required": True})
    shop = await new_page()
    await _open_demo(shop, site)
    await shop.get_by_role("dialog").get_by_role("button", name="Accept and chat").click()
    await _send(shop, "Before withdrawing")
    await expect(shop.locator("#confide-widget").get_by_text("Before withdrawing")).to_be_visible()
    await expect(shop.get_by_role("log", name="Messages").locator(".msg.me.pending")).to_have_count(
        0
    )
    raw = await shop.evaluate(f"localStorage.getItem('confide.{site.workspace}')")
    conversation_id = json.loads(raw)["conversation"]

    console = await new_page(width=1440, height=900)
    await sign_in(console, site, site.admin)
    await expect(console.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    await console.goto(f"{site.url}/console/conversations/{conversation_id}")
    await console.locator('body[data-socket="online"]').wait_for()
    reply = console.get_by_label(re.compile(r"^Reply to"))
    attach = console.get_by_role("button", name=re.compile(r"^Attach"))
    notice = console.locator("#consent-withdrawn")
    badge = console.locator(".consent-list li", has_text="chat").locator(".pill")
    await expect(reply).to_be_enabled()
    await expect(attach).to_be_enabled()
    await expect(notice).to_be_hidden()
    await expect(badge).to_have_text("granted")
    # A message the console receives live: it is subscribed to the conversation's events.
    await _send(shop, "Are you there?")
    await expect(console.locator("#messages").get_by_text("Are you there?")).to_be_visible(
        timeout=TIMEOUT_MS
    )

    await _withdraw(shop)
    # The console follows at once: a clear notice, the reply box and Attach off, the badge.
    await expect(notice).to_be_visible(timeout=TIMEOUT_MS)
    await expect(notice).to_have_text(
        "The visitor withdrew consent: nothing more can be sent or stored in this chat."
    )
    await expect(reply).to_be_disabled()
    await expect(console.locator("#composer .send")).to_be_disabled()
    await expect(attach).to_be_disabled()
    await expect(badge).to_have_text("withdrawn")
    # So after a reload (the page says so itself); and the server refuses a reply anyway.
    await console.reload()
    await expect(notice).to_be_visible()
    await expect(reply).to_be_disabled()
    await expect(attach).to_be_disabled()
    await expect(badge).to_have_text("withdrawn")
    refused = await site.world.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "after-withdrawal", "body": "Are you still there?"},
        headers=await site.world.headers(site.admin),
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "consent_withdrawn"
    assert await _messages(site) == 2

    # The visitor consents again: the console's reply box comes back, live.
    await console.locator('body[data-socket="online"]').wait_for()
    dialog = shop.get_by_role("dialog")
    await dialog.get_by_role("button", name="Consent again").click()
    await dialog.get_by_role("button", name="Accept and chat").click()
    await expect(notice).to_be_hidden(timeout=TIMEOUT_MS)
    await expect(reply).to_be_enabled()
    await expect(attach).to_be_enabled()
    await expect(badge).to_have_text("granted")


async def test_access_and_erasure_requests_filed_from_the_widget_become_cases(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    dialog = page.get_by_role("dialog")
    privacy = dialog.get_by_role("button", name="Privacy", exact=True)
    # Keyboard only: the menu opens with focus on its first entry.
    await privacy.focus()
    await page.keyboard.press("Enter")
    first = dialog.get_by_role("button", name="Request my data")
    await expect(first).to_be_focused()
    # Nothing to withdraw: this visitor never consented to anything.
    await expect(dialog.get_by_role("button", name="Withdraw my consent")).to_have_count(0)
    await page.keyboard.press("Enter")

    filed = dialog.locator("[data-confide=privacy-request]")
    await expect(filed).to_contain_text("Request filed (reference")
    await expect(filed).to_contain_text("a copy of the data we hold about you")
    await expect(filed).to_contain_text("We will answer by")
    await save_screenshot(page, "widget-privacy-request")
    access_id = await filed.get_attribute("data-case")

    # Erasure asks first.
    await dialog.get_by_role("button", name="Close", exact=True).click()
    await expect(privacy).to_be_focused()
    await privacy.click()
    await dialog.get_by_role("button", name="Delete my data").click()
    await expect(dialog.get_by_text("Ask us to delete the data we hold about you?")).to_be_visible()
    await dialog.get_by_role("button", name="Yes, ask to delete").click()
    await expect(filed).to_contain_text("We will delete the data we hold about you")
    erasure_id = await filed.get_attribute("data-case")

    cases = (await _api(site, "GET", "/dsr/cases")).json()["cases"]
    by_id = {c["id"]: c for c in cases}
    assert by_id[access_id]["kind"] == "access"
    assert by_id[erasure_id]["kind"] == "erasure"
    assert by_id[access_id]["channel"] == "widget"
    assert by_id[access_id]["visitor_id"] == by_id[erasure_id]["visitor_id"] is not None


async def test_the_privacy_menu_speaks_the_visitors_language(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await page.goto(f"{site.url}/demo/{site.workspace}?lang=de")
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Datenschutz", exact=True).click()
    await dialog.get_by_role("button", name="Meine Daten anfordern").click()
    filed = dialog.locator("[data-confide=privacy-request]")
    await expect(filed).to_contain_text("Antrag eingereicht (Aktenzeichen")
    await expect(filed).to_contain_text("Wir antworten bis")
    await save_screenshot(page, "widget-privacy-request-de")


async def test_a_visitor_without_an_address_gets_the_answer_in_the_widget(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "My order is lamp-7731, what do you keep about me?")
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator(".msg.me:not(.pending)")).to_have_count(1)
    privacy = dialog.get_by_role("button", name="Privacy", exact=True)
    await privacy.click()
    await dialog.get_by_role("button", name="Request my data").click()
    filed = dialog.locator("[data-confide=privacy-request]")
    await expect(filed).to_contain_text("Request filed (reference")
    case_id = await filed.get_attribute("data-case")
    assert case_id is not None
    await dialog.get_by_role("button", name="Close", exact=True).click()

    # Open: the menu lists it as in progress, with its due date.
    await privacy.click()
    mine = dialog.locator("[data-confide=my-requests]")
    await expect(mine.locator(f"li[data-case='{case_id}']")).to_contain_text(
        f"Request {case_id[:8]}: in progress, answer by"
    )
    await dialog.get_by_role("button", name="Close", exact=True).click()

    done = await _api(site, "POST", f"/dsr/cases/{case_id}/carry-out", json={})
    assert done.json()["status"] == "completed"
    # After a reload (the ids live in the widget's storage) the answer is there to download.
    await page.reload()
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await privacy.click()
    item = mine.locator(f"li[data-case='{case_id}']")
    await expect(item).to_contain_text(f"Request {case_id[:8]}: answered.")
    link = item.get_by_role("link", name="Download your data (link valid 15 minutes)")
    await save_screenshot(page, "widget-privacy-answer")
    href = await link.get_attribute("href")
    assert href is not None and href.startswith(f"{site.url}/api/v1/exports/")
    download = await page.request.get(href)
    assert download.status == 200
    assert download.headers["content-type"].startswith("application/zip")
    assert (await download.body())[:2] == b"PK"
