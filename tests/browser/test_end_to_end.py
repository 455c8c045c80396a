"""The whole product in two browsers: a visitor on the demo host page and an agent in the console.

The visitor accepts the consent request and writes; the agent sees the chat arrive live and
answers; the visitor reads the answer, ends the chat and rates it. Both pages are checked for
requests leaving the Confide origin by the ``new_page`` fixture.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import select

from confide.access.models import Role
from confide.chat.models import Conversation, ConversationStatus
from confide.privacy.models import ConsentRecord
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in

CONSENT_TEXT = "We keep this conversation for one year to answer your question. Do you agree?"


async def _require_chat_consent(site: Site) -> None:
    admin = await site.world.headers(site.admin)
    client = site.world.client
    published = await client.put(
        "/api/v1/consent/requests/chat",
        json={"version": "2026-11", "text": CONSENT_TEXT},
        headers=admin,
    )
    assert published.status_code == 200, published.text
    required = await client.patch(
        "/api/v1/workspace", json={"consent_required": True}, headers=admin
    )
    assert required.status_code == 200, required.text


def _widget_log(page: Page) -> Any:
    return page.get_by_role("log", name="Messages")


async def test_visitor_and_agent_chat_live_then_the_visitor_closes_and_rates(
    site: Site, new_page: NewPage
) -> None:
    await _require_chat_consent(site)
    group = await site.world.group("Support", slug=site.workspace)
    agent = await site.world.operator(
        "sam", Role.AGENT, slug=site.workspace, groups=[group], name="Sam Support", alias="Sam"
    )

    console = await new_page(width=1440, height=900)
    await sign_in(console, site, agent)
    await expect(console.locator("#empty-waiting")).to_be_visible(timeout=TIMEOUT_MS)
    await console.locator('body[data-socket="online"]').wait_for()  # the socket said ready

    shop = await new_page(width=1280, height=800)
    await shop.goto(f"{site.url}/demo/{site.workspace}")
    await shop.get_by_role("button", name="Chat", exact=False).first.click()
    widget = shop.get_by_role("dialog", name="Chat with us")
    await expect(widget.get_by_text(CONSENT_TEXT)).to_be_visible()
    await widget.get_by_role("button", name="Accept and chat").click()
    composer = shop.get_by_role("textbox", name="Write a message")
    await composer.fill("Hello! Does the linen throw come in grey?")
    await composer.press("Enter")
    await expect(_widget_log(shop).locator(".msg.me:not(.pending)")).to_have_count(1)

    # The agent sees the new chat arrive in the waiting list without reloading, opens it.
    waiting = console.locator("#list-waiting .conv-item")
    await expect(waiting).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(waiting.locator(".conv-preview")).to_have_text(
        "Hello! Does the linen throw come in grey?"
    )
    await waiting.locator("a").click()
    await expect(console.locator("#messages .msg--visitor .msg-body")).to_have_text(
        "Hello! Does the linen throw come in grey?"
    )
    await expect(console.locator(".visitor-pane")).to_contain_text("granted", timeout=TIMEOUT_MS)

    reply = console.get_by_label(re.compile(r"^Reply to"))
    await reply.fill("It does: grey, sand and moss. Shall I reserve one?")
    await reply.press("Enter")
    await expect(console.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)

    # The visitor reads the answer live, ends the chat and rates it.
    await expect(
        _widget_log(shop).get_by_text("It does: grey, sand and moss. Shall I reserve one?")
    ).to_be_visible(timeout=TIMEOUT_MS)
    await widget.get_by_role("button", name="End chat").click()
    await widget.get_by_role("button", name="Yes, end the chat").click()
    await expect(widget.get_by_text("How was your chat?")).to_be_visible()
    await widget.get_by_text("5", exact=True).click()
    await widget.get_by_role("textbox").fill("Quick and friendly")
    await widget.get_by_role("button", name="Send rating").click()
    await expect(widget.get_by_text("Thank you for your feedback")).to_be_visible()

    # The console follows the close live; the database holds the outcome and the consent proof.
    await expect(console.locator("#conv-status")).to_have_text("closed", timeout=TIMEOUT_MS)
    async with site.rt.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
        decisions = (await session.scalars(select(ConsentRecord.decision))).all()
    assert conversation.status is ConversationStatus.CLOSED
    assert conversation.assignee_id == agent.id
    assert conversation.csat_score == 5
    assert decisions == ["granted"]
