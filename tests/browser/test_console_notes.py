"""Internal notes in a real browser: added in the visitor panel, kept after a reload, and
never sent to the visitor's socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    team_agent,
    visitor,
)
from tests.chat.helpers import token_subprotocols
from tests.conftest import Account

NOTE = "VIP customer: offer free shipping."


async def test_an_internal_note_stays_with_the_operators(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    conversation_id = await visitor.start("Do you ship to Iceland?")
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    async with websockets.connect(
        f"{site.ws_url}/api/v1/ws/widget", subprotocols=token_subprotocols(visitor.token)
    ) as socket:
        await socket.send(json.dumps({"type": "subscribe", "conversation_id": conversation_id}))
        await page.get_by_label("Add an internal note").fill(NOTE)
        await page.get_by_role("button", name="Add note").click()
        await expect(page.locator("#notes .note-body")).to_have_text([NOTE], timeout=TIMEOUT_MS)
        # A reply after the note: the visitor's socket gets the reply, and nothing before it
        # carried the note.
        await page.get_by_label("Reply to Vera Visitor").fill("Yes, we do.")
        await page.keyboard.press("Enter")
        frames: list[str] = []
        while True:
            raw = await asyncio.wait_for(socket.recv(), TIMEOUT_MS / 1000)
            frames.append(str(raw))
            frame = json.loads(raw)
            if frame.get("type") == "message" and frame.get("body") == "Yes, we do.":
                break
        assert not any("free shipping" in f for f in frames)
    await screenshot(page, "console-internal-note")
    await page.reload()
    await expect(page.locator("#notes .note-body")).to_have_text([NOTE])
    assert "free shipping" not in json.dumps(await visitor.messages(conversation_id))
