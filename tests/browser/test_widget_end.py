"""The end of a chat in the widget: nothing delivered before the end is lost, the end notice
and the survey come below it (also after a reload in the same visit), "End chat" asks first;
and the composer and timestamps behave."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.async_api import Page, WebSocketRoute, expect
from sqlalchemy import select

from confide.chat.models import Conversation, Message
from tests.browser.conftest import NewPage, Site
from tests.browser.test_widget import _api, _log, _open_demo, _reply, _send, _stored_conversation

ANSWER = "Your parcel left our warehouse this morning."


async def _close(site: Site, conversation_id: str) -> None:
    await _api(site, "POST", f"/conversations/{conversation_id}/close")


async def _order_in_panel(page: Page) -> list[str]:
    """The kinds of the panel body's items, top to bottom: message texts, then 'ended'."""
    result: list[str] = await page.evaluate(
        """() => {
          const body = document.getElementById('confide-widget').shadowRoot.querySelector('.body');
          const out = [];
          body.querySelectorAll('.msg, [data-confide=ended]').forEach((n) =>
            out.push(n.dataset.confide === 'ended' ? 'ended' : [...n.childNodes]
              .filter((c) => c.nodeType === 3).map((c) => c.textContent).join('')));
          return out;
        }"""
    )
    return result


async def test_the_answer_sent_just_before_the_agent_closes_stays_above_the_survey(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Where is my order?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    await _reply(site, conversation_id, ANSWER)
    await _close(site, conversation_id)  # straight after the answer, as the fault report says

    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    await expect(_log(page).get_by_text(ANSWER)).to_be_visible()
    order = await _order_in_panel(page)
    assert order[-3:] == ["Where is my order?", ANSWER, "ended"]
    await expect(dialog.get_by_role("status").filter(has_text="The chat has ended")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Write a message")).to_be_hidden()
    await screenshot(page, "widget-ended-desktop")

    # A reload in the same visit shows the ended chat and its survey again.
    await page.reload()
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    await expect(_log(page).get_by_text(ANSWER)).to_be_visible()
    assert (await _order_in_panel(page))[-3:] == ["Where is my order?", ANSWER, "ended"]
    await dialog.get_by_text("4", exact=True).click()
    await dialog.get_by_role("button", name="Send rating").click()
    await expect(dialog.get_by_text("Thank you for your feedback")).to_be_visible()
    async with site.rt.db.session() as session:
        score = await session.scalar(select(Conversation.csat_score))
    assert score == 4

    # Rated: a reload shows the chat and the thanks, not the survey again.
    await page.reload()
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(dialog.get_by_text("Thank you for your feedback")).to_be_visible()
    await expect(_log(page).get_by_text(ANSWER)).to_be_visible()
    await dialog.get_by_role("button", name="Start a new chat").click()
    await expect(_log(page).get_by_text(ANSWER)).to_have_count(0)
    await expect(page.get_by_role("textbox", name="Write a message")).to_be_focused()


async def test_an_answer_the_socket_never_delivered_is_read_before_the_end_notice(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    dropped: list[str] = []

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and ANSWER in message:
                dropped.append(message)  # lost in transit, as on a flaky mobile network
                return
            ws.send(message)

        server.on_message(from_server)

    await page.route_web_socket(re.compile(r".*/api/v1/ws/widget.*"), relay)
    await _open_demo(page, site)
    await _send(page, "Where is my order?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    # The panel is closed while the agent answers and closes.
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    await _reply(site, conversation_id, ANSWER)
    await _close(site, conversation_id)
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(page.get_by_role("dialog").get_by_text("How was your chat?")).to_be_visible()
    await expect(_log(page).get_by_text(ANSWER)).to_be_visible()
    assert dropped, "the relay never saw the answer: the test proved nothing"
    assert (await _order_in_panel(page))[-2:] == [ANSWER, "ended"]


async def test_end_chat_asks_first_and_keep_chatting_changes_nothing(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(390, 844, is_mobile=True, has_touch=True)
    await _open_demo(page, site)
    await _send(page, "Just browsing")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="End chat").click()
    question = dialog.get_by_role("group", name="End this chat?")
    await expect(question).to_be_visible()
    await screenshot(page, "widget-end-confirm-mobile")
    await question.get_by_role("button", name="Keep chatting").click()
    await expect(question).to_be_hidden()
    await expect(page.get_by_role("textbox", name="Write a message")).to_be_focused()
    async with site.rt.db.session() as session:
        status = await session.scalar(select(Conversation.status))
    assert status is not None and status.value in ("open", "waiting")

    await dialog.get_by_role("button", name="End chat").click()
    await question.get_by_role("button", name="Yes, end the chat").click()
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    await expect(_log(page).get_by_text("Just browsing")).to_be_visible()
    await screenshot(page, "widget-ended-mobile")
    async with site.rt.db.session() as session:
        status = await session.scalar(select(Conversation.status))
    assert status is not None and status.value == "closed"


async def test_the_message_box_shrinks_back_after_sending_a_long_message(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    box = page.get_by_role("textbox", name="Write a message")
    one_line = (await box.bounding_box() or {}).get("height", 0)
    await box.press_sequentially("line one")
    for text in ("line two", "line three", "line four"):
        await box.press("Shift+Enter")
        await box.press_sequentially(text)
    grown = (await box.bounding_box() or {}).get("height", 0)
    assert grown > one_line + 20
    await box.press("Enter")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    assert (await box.bounding_box() or {}).get("height", 0) == one_line


async def test_timestamps_are_in_the_visitors_time_zone(site: Site, new_page: NewPage) -> None:
    page = await new_page(timezone_id="Asia/Tokyo", locale="en-GB")
    await _open_demo(page, site)
    await _send(page, "What time is it there?")
    mine = _log(page).locator(".msg.me:not(.pending)")
    await expect(mine).to_have_count(1)
    await _reply(site, await _stored_conversation(page, site), "Morning here")
    theirs = _log(page).locator(".msg.them", has_text="Morning here")
    await expect(theirs).to_have_count(1)
    async with site.rt.db.session() as session:
        stored = {m.seq: m.created_at for m in (await session.scalars(select(Message))).all()}
    tokyo = ZoneInfo("Asia/Tokyo")

    def shown(at: datetime) -> str:
        return at.astimezone(tokyo).strftime("%H:%M")  # en-GB: 24-hour clock

    assert await theirs.get_attribute("data-time") == shown(stored[2])
    assert await mine.get_attribute("data-time") == shown(stored[1])


async def test_a_close_before_the_socket_subscribed_still_ends_the_chat(
    site: Site, new_page: NewPage
) -> None:
    """The close event is not replayed to a socket that subscribes later (a slow start, a
    reconnect): the widget asks once per subscription."""
    page = await new_page()
    held: list[str] = []
    servers: list[Any] = []

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        servers.append(server)

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"type":"subscribe"' in message and not servers[1:]:
                held.append(message)  # subscribe waits until the conversation is closed
                return
            server.send(message)

        ws.on_message(from_page)

    await page.route_web_socket(re.compile(r".*/api/v1/ws/widget.*"), relay)
    await _open_demo(page, site)
    await _send(page, "Hello?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    for _ in range(100):
        if held:
            break
        await page.wait_for_timeout(50)
    assert held, "the widget never subscribed"
    conversation_id = await _stored_conversation(page, site)
    await _reply(site, conversation_id, ANSWER)
    await _close(site, conversation_id)
    servers.append(None)  # from now on frames pass
    servers[0].send(held[0])
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    assert (await _order_in_panel(page))[-2:] == [ANSWER, "ended"]
