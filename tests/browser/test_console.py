"""The operator console in a real browser: sign-in with a second factor, the live inbox, a
reply, escaping of hostile message text, a settings change, and the screenshots."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp
import pytest
import websockets
from playwright.async_api import Page, WebSocketRoute, expect

from confide.access.models import Role
from confide.access.policy import Principal
from confide.chat import messages
from confide.core import clock
from confide.privacy import settings as privacy_settings
from tests.browser.conftest import NewPage, Site
from tests.chat.helpers import token_subprotocols
from tests.conftest import Account

XSS = "<img src=x onerror=alert(1)>"
TIMEOUT_MS = 10_000


@dataclass
class Visitor:
    """A visitor driven over the widget's REST API and socket, as the widget would."""

    http: httpx.AsyncClient
    token: str
    vuid: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start(self, text: str) -> str:
        response = await self.http.post(
            "/api/v1/widget/conversations",
            json={"message": {"client_id": uuid.uuid4().hex, "body": text}},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        conversation_id: str = response.json()["conversation"]["id"]
        return conversation_id

    async def say(self, conversation_id: str, text: str) -> None:
        response = await self.http.post(
            f"/api/v1/widget/conversations/{conversation_id}/messages",
            json={"client_id": uuid.uuid4().hex, "body": text},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text

    async def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/api/v1/widget/conversations/{conversation_id}/messages", headers=self.headers
        )
        found: list[dict[str, Any]] = response.json()["messages"]
        return found


@pytest.fixture
async def visitor(site: Site) -> AsyncIterator[Visitor]:
    async with httpx.AsyncClient(base_url=site.url) as http:
        created = await http.post(f"/api/v1/widget/{site.workspace}/visitors")
        assert created.status_code == 201, created.text
        person = Visitor(http, created.json()["token"], created.json()["vuid"])
        identified = await http.post(
            "/api/v1/widget/identify",
            json={"name": "Vera Visitor", "email": "vera@example.test"},
            headers=person.headers,
        )
        assert identified.status_code == 200, identified.text
        yield person


@pytest.fixture
async def team_agent(site: Site) -> Account:
    """An agent in the workspace's only group, where new conversations wait."""
    group = await site.world.group("Support", slug=site.workspace)
    return await site.world.operator(
        "sam", Role.AGENT, slug=site.workspace, groups=[group], name="Sam Support", alias="Sam"
    )


async def sign_in(page: Page, site: Site, account: Account) -> None:
    await page.goto(f"{site.url}/console/login")
    await page.get_by_label("Workspace").fill(site.workspace)
    await page.get_by_label("Username").fill(account.username)
    await page.get_by_label("Password").fill(account.password)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_with_a_second_factor(site: Site, new_page: NewPage) -> None:
    clock.advance(-3600)  # room to step the server's clock to a fresh TOTP window below
    page = await new_page()
    await sign_in(page, site, site.admin)
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    await page.get_by_role("link", name="Account").click()
    await page.get_by_role("link", name="turn on").click()
    secret = (await page.locator("code.secret").text_content() or "").strip()
    code = pyotp.TOTP(secret).at(int(clock.utcnow().timestamp()))
    await page.get_by_label("Code from the app").fill(code)
    await page.get_by_role("button", name="Turn on").click()
    await expect(page.get_by_text("Two-factor authentication is on.")).to_be_visible()
    assert await page.locator("ul.codes li").count() >= 8

    await page.get_by_role("link", name="Continue to the console").click()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    clock.advance(30)  # a code is accepted once: the next sign-in uses the next window
    await sign_in(page, site, site.admin)
    await expect(page.get_by_role("heading", name="Two-factor verification")).to_be_visible()
    await page.get_by_label("Code").fill("000000")
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    challenge_code = pyotp.TOTP(secret).at(int(clock.utcnow().timestamp()))
    await page.get_by_label("Code").fill(challenge_code)
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)


async def test_agent_sees_a_new_conversation_live_and_replies(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account, screenshot: Any
) -> None:
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, team_agent)
    await expect(page.locator("#empty-waiting")).to_be_visible(timeout=TIMEOUT_MS)
    # The socket has said ready before the conversation starts.
    await page.locator('body[data-socket="online"]').wait_for()

    conversation_id = await visitor.start("Hi, my order #1042 has not arrived.")
    item = page.locator(f'#list-waiting .conv-item[data-id="{conversation_id}"]')
    await expect(item).to_be_visible(timeout=TIMEOUT_MS)
    await expect(item.locator(".conv-name")).to_have_text("Vera Visitor")
    await expect(page.locator("#count-waiting")).to_have_text("1")

    await item.locator("a").click()
    await expect(page.locator("#conv-title")).to_have_text("Vera Visitor")
    await expect(page.locator("#messages .msg--visitor .msg-body")).to_have_text(
        "Hi, my order #1042 has not arrived."
    )
    # An agent answers with the name; e-mail and phone stay with admins (working view).
    await expect(page.locator(".visitor-pane")).to_contain_text("shown to admins only")
    await expect(page.locator(".visitor-pane")).not_to_contain_text("vera@example.test")

    # The visitor writes while the conversation is open: it arrives live.
    await visitor.say(conversation_id, "It was due on Monday.")
    await expect(page.locator("#messages .msg--visitor .msg-body").last).to_have_text(
        "It was due on Monday.", timeout=TIMEOUT_MS
    )

    # The agent replies (Enter sends); the answer takes the waiting chat.
    await page.get_by_label("Reply to Vera Visitor").fill("Sorry about that! Let me check.")
    await page.keyboard.press("Enter")
    reply = page.locator("#messages .msg--operator").last
    await expect(reply.locator(".msg-body")).to_have_text("Sorry about that! Let me check.")
    await expect(reply).not_to_have_class(re.compile("msg--pending"), timeout=TIMEOUT_MS)
    await expect(page.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)
    stored = await visitor.messages(conversation_id)
    assert [m["body"] for m in stored][-1] == "Sorry about that! Let me check."
    assert stored[-1]["author"]["kind"] == "operator"
    opened = page.locator(f'#list-open .conv-item[data-id="{conversation_id}"]')
    await expect(opened).to_be_visible()

    # Someone else starts a chat meanwhile: it joins the waiting list live, with its preview.
    async with httpx.AsyncClient(base_url=site.url) as http:
        created = (await http.post(f"/api/v1/widget/{site.workspace}/visitors")).json()
        other = Visitor(http, created["token"], created["vuid"])
        await http.post(
            "/api/v1/widget/identify", json={"name": "Noah Newcomer"}, headers=other.headers
        )
        other_id = await other.start("Do you ship to Norway?")
    waiting = page.locator(f'#list-waiting .conv-item[data-id="{other_id}"]')
    await expect(waiting.locator(".conv-name")).to_have_text("Noah Newcomer", timeout=TIMEOUT_MS)
    await expect(waiting.locator(".conv-preview")).to_have_text("Do you ship to Norway?")
    await expect(waiting.locator(".badge")).to_have_text("1")
    await expect(page).to_have_title(re.compile(r"^\(1\) Vera Visitor"))
    await screenshot(page, "console-desktop")

    # The keyboard moves through the lists.
    await waiting.locator("a").focus()
    await page.keyboard.press("ArrowDown")
    await expect(page.locator(f'.conv-item[data-id="{conversation_id}"] a')).to_be_focused()

    # Close and reopen from the header; the lists follow.
    await page.get_by_role("button", name="Close", exact=True).click()
    await expect(page.locator("#conv-status")).to_have_text("closed", timeout=TIMEOUT_MS)
    await expect(page.get_by_label("Reply to Vera Visitor")).to_be_disabled()
    closed = page.locator(f'#list-closed .conv-item[data-id="{conversation_id}"]')
    await expect(closed).to_be_visible(timeout=TIMEOUT_MS)
    await page.get_by_role("button", name="Reopen").click()
    await expect(page.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)
    await expect(page.get_by_label("Reply to Vera Visitor")).to_be_enabled()

    # Presence: becoming available hands the waiting chat to this agent (routing), live.
    await page.get_by_role("button", name="Away").click()
    await expect(page.locator("#presence")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator(f'#list-open .conv-item[data-id="{other_id}"]')).to_be_visible(
        timeout=TIMEOUT_MS
    )


async def test_hostile_message_text_shows_as_text(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account
) -> None:
    conversation_id = await visitor.start(XSS)
    page = await new_page()
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    await visitor.say(conversation_id, f"again: {XSS}")  # rendered by the script this time
    bodies = page.locator("#messages .msg-body")
    await expect(bodies).to_have_text([XSS, f"again: {XSS}"], timeout=TIMEOUT_MS)
    assert await page.locator("#messages img").count() == 0
    preview = page.locator(f'.conv-item[data-id="{conversation_id}"] .conv-preview')
    await expect(preview).to_have_text(f"again: {XSS}")
    assert await page.locator("img").count() == 0


async def test_visitor_typing_shows_in_the_console(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account
) -> None:
    conversation_id = await visitor.start("Hello")
    page = await new_page()
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    async with websockets.connect(
        f"{site.ws_url}/api/v1/ws/widget", subprotocols=token_subprotocols(visitor.token)
    ) as socket:
        await socket.send(json.dumps({"type": "subscribe", "conversation_id": conversation_id}))
        await socket.send(
            json.dumps({"type": "typing", "conversation_id": conversation_id, "state": True})
        )
        await expect(page.locator("#typing")).to_have_text(
            "Vera Visitor is typing…", timeout=TIMEOUT_MS
        )
        # And the other way: the agent typing reaches the visitor's widget.
        await page.get_by_label("Reply to Vera Visitor").press_sequentially("On it")
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_MS / 1000))
            if frame.get("type") == "typing":
                break
        assert frame["author"]["kind"] == "operator" and frame["state"] is True


async def test_admin_changes_a_privacy_setting_through_the_settings_page(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await sign_in(page, site, site.admin)
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("link", name="Privacy").click()
    # A bad value is refused next to its field, and nothing is stored.
    await page.get_by_label("Not kept").check()
    await page.get_by_label("Keep connection logs (days, 1-365)").fill("0")
    await page.get_by_role("button", name="Save privacy settings").click()
    await expect(page.locator("#err-connection_log_retention_days")).to_be_visible()
    stored = await privacy_settings.read(site.rt, site.workspace_id)
    assert stored["ip_handling"] == "truncated"
    await page.get_by_label("Keep connection logs (days, 1-365)").fill("3")
    await page.get_by_role("button", name="Save privacy settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    stored = await privacy_settings.read(site.rt, site.workspace_id)
    assert stored["ip_handling"] == "none"
    assert stored["connection_log_retention_days"] == 3


async def test_console_on_a_phone(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account, screenshot: Any
) -> None:
    conversation_id = await visitor.start("Can I change my delivery address?")
    page = await new_page(width=390, height=844, is_mobile=True, has_touch=True)
    await sign_in(page, site, team_agent)
    await expect(page.locator(f'.conv-item[data-id="{conversation_id}"]')).to_be_visible()
    await page.locator(f'.conv-item[data-id="{conversation_id}"] a').click()
    await expect(page.locator(".list-pane")).to_be_hidden()
    await expect(page.locator("#messages .msg-body")).to_have_text(
        "Can I change my delivery address?"
    )
    await page.get_by_label("Reply to Vera Visitor").fill("Yes, send me the new one.")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#messages .msg--operator .msg-body")).to_have_text(
        "Yes, send me the new one."
    )
    await expect(page.locator("#conv-status")).to_have_text("open", timeout=TIMEOUT_MS)
    await screenshot(page, "console-mobile")
    await page.get_by_role("button", name="Visitor", exact=True).click()
    await expect(page.locator(".visitor-pane")).to_be_visible()
    await expect(page.locator(".visitor-pane")).to_contain_text("Vera Visitor")
    await expect(page.locator(".visitor-pane")).not_to_contain_text("vera@example.test")
    await page.keyboard.press("Escape")
    await expect(page.locator(".visitor-pane")).to_be_hidden()
    await page.locator("a.back").click()
    await expect(page.locator(".list-pane")).to_be_visible()
    opened = page.locator(f'#list-open .conv-item[data-id="{conversation_id}"]')
    await expect(opened).to_be_visible()


async def test_long_history_loads_earlier_messages_and_transfer(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account
) -> None:
    conversation_id = await visitor.start("message 1")
    admin = Principal(
        kind="operator",
        workspace_id=site.workspace_id,
        role=Role.ADMIN,
        operator_id=site.admin.id,
        session_id=uuid.uuid4(),
    )
    for number in range(2, 56):
        await messages.do_send_message(
            site.rt,
            admin,
            uuid.UUID(conversation_id),
            client_id=f"history-{number}",
            body=f"message {number}",
        )
    page = await new_page(width=1280, height=800)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    bodies = page.locator("#messages .msg-body")
    await expect(bodies).to_have_count(50)
    await expect(bodies.first).to_have_text("message 6")
    await page.get_by_role("button", name="Load earlier messages").click()
    await expect(bodies).to_have_count(55)
    await expect(bodies.first).to_have_text("message 1")
    await expect(page.get_by_role("button", name="Load earlier messages")).to_be_hidden()

    # Transfer to the agent: the admin still sees the conversation, now with Sam.
    await page.get_by_role("button", name="Transfer").first.click()
    await page.get_by_label("Transfer to").select_option(f"operator:{team_agent.id}")
    await page.locator("#transfer-panel").get_by_role("button", name="Transfer").click()
    await expect(page.locator("#conv-agent")).to_have_text("with Sam", timeout=TIMEOUT_MS)
    await expect(page.locator("#transfer-panel")).to_be_hidden()


async def test_console_reconnects_and_resumes_without_losing_messages(
    site: Site, new_page: NewPage, visitor: Visitor, team_agent: Account
) -> None:
    conversation_id = await visitor.start("before the outage")
    page = await new_page()
    outage = False
    live: list[WebSocketRoute] = []

    async def console_socket(route: WebSocketRoute) -> None:
        # A proxy between the page and Confide that the test can cut, like a network drop.
        if outage:
            await route.close(code=1011, reason="outage")
            return
        route.connect_to_server()
        live.append(route)

    await page.route_web_socket(re.compile(r"/api/v1/ws/console$"), console_socket)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    outage = True
    await live[-1].close(code=1011, reason="outage")
    await page.locator('body[data-socket="offline"]').wait_for()
    await visitor.say(conversation_id, "sent while the console was cut off")
    # A reply written during the outage waits, then is sent once the socket is back.
    await page.get_by_label("Reply to Vera Visitor").fill("Written while cut off.")
    await page.keyboard.press("Enter")
    await expect(page.locator("#messages .msg--pending .msg-body")).to_have_text(
        "Written while cut off."
    )
    await page.wait_for_timeout(1500)  # a few refused reconnects, with backoff
    outage = False
    await expect(page.locator("#messages .msg-body")).to_have_text(
        ["before the outage", "sent while the console was cut off", "Written while cut off."],
        timeout=40_000,
    )
    await expect(page.locator("#messages .msg--pending")).to_have_count(0, timeout=TIMEOUT_MS)
    await expect(page.locator("body")).to_have_attribute("data-socket", "online")
    # Sending still works on the new socket.
    await page.get_by_label("Reply to Vera Visitor").fill("Back again.")
    await page.keyboard.press("Enter")
    reply = page.locator("#messages .msg--operator").last
    await expect(reply.locator(".msg-body")).to_have_text("Back again.")
    await expect(reply).not_to_have_class(re.compile("msg--pending"), timeout=TIMEOUT_MS)
    stored = [m["body"] for m in await visitor.messages(conversation_id)]
    assert stored == [
        "before the outage",
        "sent while the console was cut off",
        "Written while cut off.",
        "Back again.",
    ]
