"""The widget in a real browser, on the demo host page: consent, escaping, resume, keyboard,
the JS API, engagement rules, and the screenshots the README shows."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any

import httpx
from playwright.async_api import Page, WebSocketRoute, expect
from sqlalchemy import func, select

from confide.chat.models import Conversation, Message
from confide.privacy.models import ConsentRecord
from tests.browser.conftest import NewPage, Site
from tests.chat.helpers import agent_token, open_socket

XSS = "<img src=x onerror=alert(1)>"
CONSENT_TEXT = "We keep this conversation for one year to answer you. Do you agree?"


async def _admin(site: Site) -> dict[str, str]:
    return await site.world.headers(site.admin)


async def _api(site: Site, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = await _admin(site)
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


async def _stored_conversation(page: Page, site: Site) -> str:
    raw = await page.evaluate(f"localStorage.getItem('confide.{site.workspace}')")
    conversation: str = json.loads(raw)["conversation"]
    return conversation


async def _reply(site: Site, conversation_id: str, text: str) -> None:
    await _api(
        site,
        "POST",
        f"/conversations/{conversation_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": text},
    )


async def _count(site: Site, model: Any) -> int:
    async with site.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def _log(page: Page) -> Any:
    return page.get_by_role("log", name="Messages")


async def test_with_consent_refused_no_message_is_stored_and_the_widget_says_why(
    site: Site, new_page: NewPage
) -> None:
    await _api(site, "PUT", "/consent/requests/chat", json={"version": "1", "text": CONSENT_TEXT})
    await _api(site, "PATCH", "/workspace", json={"consent_required": True})
    page = await new_page()
    await _open_demo(page, site)
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text(CONSENT_TEXT)).to_be_visible()
    await dialog.get_by_role("button", name="Decline").click()

    await expect(dialog.get_by_text("Chat unavailable without consent")).to_be_visible()
    await expect(dialog.get_by_text("no message can be sent")).to_be_visible()
    await expect(page.get_by_role("textbox", name="Write a message")).to_be_hidden()
    async with site.rt.db.session() as session:
        decisions = (await session.scalars(select(ConsentRecord.decision))).all()
    assert decisions == ["refused"]
    assert await _count(site, Message) == 0
    assert await _count(site, Conversation) == 0

    # A reload remembers the refusal; changing one's mind is offered, and works.
    await page.reload()
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    await expect(dialog.get_by_text("Chat unavailable without consent")).to_be_visible()
    await dialog.get_by_role("button", name="Review my choice").click()
    await dialog.get_by_role("button", name="Accept and chat").click()
    await _send(page, "Now I agree")
    await expect(_log(page).get_by_text("Now I agree")).to_be_visible()
    await expect(_log(page).locator(".msg.me.pending")).to_have_count(0)
    assert await _count(site, Message) == 1


async def test_markup_in_messages_renders_as_literal_text(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, XSS)
    log = _log(page)
    await expect(log.locator(".msg.me:not(.pending)")).to_have_text(XSS)
    await _reply(site, await _stored_conversation(page, site), f"Agent says {XSS}")
    await expect(log.get_by_text(f"Agent says {XSS}")).to_be_visible()
    images = await page.evaluate(
        "document.getElementById('confide-widget').shadowRoot.querySelectorAll('img').length"
    )
    assert images == 0
    assert await page.locator("img").count() == 0


async def test_a_reload_resumes_the_open_conversation(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Do you ship to Norway?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    await _reply(site, conversation_id, "Yes, in 3 to 5 days.")
    await expect(_log(page).get_by_text("Yes, in 3 to 5 days.")).to_be_visible()

    await page.reload()
    # Closed panel: an agent message arriving now raises the unread badge.
    await _reply(site, conversation_id, "Anything else?")
    launcher = page.get_by_role("button", name="Chat (1 unread)")
    await expect(launcher).to_be_visible()
    await launcher.click()
    log = _log(page)
    for text in ("Do you ship to Norway?", "Yes, in 3 to 5 days.", "Anything else?"):
        await expect(log.get_by_text(text)).to_be_visible()
    await _send(page, "No, thanks")
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(2)
    assert await _count(site, Conversation) == 1
    assert await _count(site, Message) == 4
    assert await _stored_conversation(page, site) == conversation_id


async def _focused(page: Page) -> str:
    name: str = await page.evaluate(
        """() => {
          const el = document.getElementById('confide-widget').shadowRoot.activeElement;
          return el ? (el.getAttribute('aria-label') || el.textContent || el.tagName) : '';
        }"""
    )
    return name


async def test_keyboard_only_open_send_close_and_rate(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await page.goto(f"{site.url}/demo/{site.workspace}")
    await page.get_by_role("button", name="Chat").wait_for()
    for _ in range(40):
        await page.keyboard.press("Tab")
        if (await _focused(page)).strip() == "Chat":
            break
    else:
        raise AssertionError("Tab never reached the chat launcher")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog")).to_be_visible()
    assert await _focused(page) == "Write a message"
    await page.keyboard.type("Typed without a mouse")
    await page.keyboard.press("Enter")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_text("Typed without a mouse")

    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    assert (await _focused(page)).strip() == "Chat"
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog")).to_be_visible()
    for _ in range(6):
        await page.keyboard.press("Shift+Tab")
        if await _focused(page) == "End chat":
            break
    else:
        raise AssertionError("Shift+Tab never reached 'End chat'")
    await page.keyboard.press("Enter")
    # Ending asks first; the question takes the composer's place and focus.
    await expect(page.get_by_role("group", name="End this chat?")).to_be_visible()
    assert await _focused(page) == "Yes, end the chat"
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("How was your chat?")).to_be_visible()
    # Focus lands on the card's heading, not on "1" (which would look pre-selected).
    assert await _focused(page) == "How was your chat?"
    assert await page.locator("input[name=score]:checked").count() == 0
    await page.keyboard.press("Tab")
    assert await _focused(page) == "1 out of 5"
    for key in ("Space", "ArrowRight", "ArrowRight", "ArrowRight", "Tab"):
        await page.keyboard.press(key)
    await page.keyboard.type("Quick and kind")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("Thank you for your feedback")).to_be_visible()
    async with site.rt.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    assert conversation.status.value == "closed" and conversation.csat_score == 4


async def test_a_visitor_who_objected_to_surveys_is_not_asked_to_rate(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Please never survey me")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    async with site.rt.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    case = (
        await _api(
            site,
            "POST",
            "/dsr/cases",
            json={
                "kind": "objection",
                "processing": "surveys",
                "visitor_id": str(conversation.visitor_id),
                "verified": True,
            },
        )
    ).json()
    await _api(site, "POST", f"/dsr/cases/{case['id']}/carry-out", json={})
    # The next page load asks the visitor's objections (GDPR Art. 21) before any survey.
    async with page.expect_response(lambda r: r.url.endswith("/api/v1/widget/consent")) as asked:
        await page.reload()
    assert (await (await asked.value).json())["objections"] == ["surveys"]
    await page.get_by_role("button", name="Chat", exact=False).first.click()
    dialog = page.get_by_role("dialog", name="Chat with us")
    await dialog.get_by_role("button", name="End chat").click()
    await dialog.get_by_role("button", name="Yes, end the chat").click()
    await expect(dialog.get_by_role("heading", name="The chat has ended")).to_be_visible()
    await expect(dialog.get_by_role("button", name="Start a new chat")).to_be_visible()
    assert await dialog.locator("input[name=score]").count() == 0


async def _until_true(page: Page, expression: str, timeout_seconds: float = 5.0) -> None:
    # Not page.wait_for_function: its polling evaluates strings in the page, which the page's
    # CSP (no 'unsafe-eval') rightly refuses; page.evaluate goes through the debugger instead.
    for _ in range(int(timeout_seconds / 0.05)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {expression}")


async def test_js_api_identify_open_and_message_events(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    # Calls made before the script loads are queued (the documented pattern).
    await page.add_init_script(
        "window.__events = [];"
        "window.Confide = {q: [['on', 'ready', () => window.__events.push('ready')],"
        " ['on', 'open', () => window.__events.push('open')]]};"
    )
    await page.goto(f"{site.url}/demo/{site.workspace}")
    await _until_true(page, "window.__events.includes('ready')")
    await page.evaluate(
        """async () => {
          window.__messages = [];
          window.Confide.on('message', (m) => window.__messages.push(m));
          await window.Confide.identify({name: 'Vera Visitor', email: 'vera@example.org',
                                         plan: 'pro'});
          window.Confide.open();
        }"""
    )
    await expect(page.get_by_role("dialog")).to_be_visible()
    assert await page.evaluate("window.__events") == ["ready", "open"]
    await _send(page, "Hello from the API test")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    await _reply(site, conversation_id, "Hello Vera")
    await _until_true(
        page, "window.__messages.some(m => m.body === 'Hello Vera' && m.author.kind === 'operator')"
    )
    detail = (await _api(site, "GET", f"/conversations/{conversation_id}")).json()
    assert detail["visitor"]["name"] == "Vera Visitor"
    assert detail["visitor"]["email"] == "vera@example.org"
    await page.evaluate("window.Confide.close()")
    await expect(page.get_by_role("dialog")).to_be_hidden()


async def test_engagement_rule_greets_and_its_data_leaves_only_with_the_chat(
    site: Site, new_page: NewPage
) -> None:
    await _api(
        site,
        "PATCH",
        "/workspace/widget",
        json={
            "engagement_rules": [
                {
                    "path_prefix": "/demo",
                    "languages": ["en"],
                    "message": "Need help choosing a lamp?",
                }
            ]
        },
    )
    page = await new_page(locale="en-GB")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}"))
    await page.goto(f"{site.url}/demo/{site.workspace}")
    bubble = page.get_by_role("button", name="Need help choosing a lamp?")
    await expect(bubble).to_be_visible()
    assert [r for r in sent if "/api/" in r] == [
        f"GET {site.url}/api/v1/widget/{site.workspace}/config?lang=en"
    ]
    await bubble.click()
    await _send(page, "Which lamp is brightest?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    async with site.rt.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    context = await site.rt.vault.open_context(
        conversation.workspace_id, conversation.id, conversation.visitor_context
    )
    assert context is not None
    assert context["path"] == f"/demo/{site.workspace}" and context["rule"] == 0
    assert context["page_views"] == 1 and context["language"] == "en-GB"


async def _exchange(page: Page, site: Site) -> None:
    await _open_demo(page, site)
    await _send(page, "Hi! Is the oak desk lamp dimmable?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    await _reply(
        site,
        await _stored_conversation(page, site),
        "Hello! Yes, it has a three-step touch dimmer. Shall I send you the care guide?",
    )
    await expect(_log(page).get_by_text("three-step touch dimmer")).to_be_visible()
    await _send(page, "Yes please, thank you!")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(2)


async def test_screenshots_of_the_widget_on_desktop_and_mobile(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    await site.world.client.patch(
        f"/api/v1/operators/{site.admin.id}",
        json={"alias": "Ada"},
        headers=await _admin(site),
    )
    desktop = await new_page(1280, 800)
    console_errors: list[str] = []
    desktop.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    await _exchange(desktop, site)
    await screenshot(desktop, "widget-desktop")
    assert console_errors == []  # e.g. no Content-Security-Policy violation on Confide's page

    mobile = await new_page(390, 844, is_mobile=True, has_touch=True)
    await _exchange(mobile, site)
    box = await mobile.get_by_role("dialog").bounding_box()
    assert box is not None and box["width"] == 390 and box["height"] == 844
    await screenshot(mobile, "widget-mobile")


async def test_typing_shows_both_ways(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Hello?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    token = await agent_token(site.world, site.admin)
    console = await open_socket(f"{site.ws_url}/api/v1/ws/console", token=token)
    try:
        await console.send(type="subscribe", conversation_id=conversation_id, since=1)
        await console.recv_until(lambda f: f["type"] == "subscribed")
        await page.get_by_role("textbox", name="Write a message").press_sequentially("I wonder")
        typing = await console.recv_until(lambda f: f["type"] == "typing")
        assert typing["state"] is True and typing["author"]["kind"] == "visitor"
        assert "preview" not in typing  # no preview without the visitor's consent to it

        await console.send(type="typing", conversation_id=conversation_id, state=True)
        status = page.get_by_role("status").filter(has_text="is typing")
        await expect(status).to_have_text("An agent is typing…")
        await console.send(type="typing", conversation_id=conversation_id, state=False)
        await expect(status).to_have_count(0)
        await _reply(site, conversation_id, "Hi, Ada here")  # now the widget knows the name
        await expect(_log(page).get_by_text("Hi, Ada here")).to_be_visible()
        await console.send(type="typing", conversation_id=conversation_id, state=True)
        await expect(status).to_have_text("Ada is typing…")
        await console.send(type="typing", conversation_id=conversation_id, state=False)
        await expect(status).to_have_count(0)
    finally:
        await console.connection.close()


async def _until(condition: Any, timeout_seconds: float = 5.0) -> None:
    for _ in range(int(timeout_seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_reconnect_resumes_and_resends_what_was_not_acknowledged(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    sockets: list[tuple[WebSocketRoute, WebSocketRoute]] = []
    lost: list[str] = []

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sockets.append((ws, server))

        def from_page(message: str | bytes) -> None:
            if not lost and isinstance(message, str) and '"type":"message"' in message:
                lost.append(message)  # the frame is lost in transit: no ack will come
                return
            server.send(message)

        ws.on_message(from_page)

    await page.route_web_socket(re.compile(r".*/api/v1/ws/widget.*"), relay)
    await _open_demo(page, site)
    await _send(page, "First, over REST")
    log = _log(page)
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    await _until(lambda: len(sockets) > 0)

    await _send(page, "Second, lost once")
    await _until(lambda: len(lost) == 1)
    await expect(log.locator(".msg.me.pending")).to_have_count(1)
    page_side, server_side = sockets[0]
    await server_side.close(code=1011)
    await page_side.close(code=1011)
    await _reply(site, conversation_id, "Sent while you were away")

    await expect(log.get_by_text("Sent while you were away")).to_have_count(1)
    await expect(log.locator(".msg.me.pending")).to_have_count(0)
    await expect(log.get_by_text("Second, lost once")).to_have_count(1)
    assert len(sockets) >= 2
    async with site.rt.db.session() as session:
        seqs = (await session.scalars(select(Message.seq).order_by(Message.seq))).all()
    assert list(seqs) == [1, 2, 3]  # each message stored once, in order


async def test_mirroring_needs_the_visitors_grant_and_never_sends_the_query_or_fragment(
    site: Site, new_page: NewPage
) -> None:
    mirror_text = "Let our team see the address of the page you are on?"
    await _api(
        site, "PUT", "/consent/requests/mirroring", json={"version": "1", "text": mirror_text}
    )
    page = await new_page()
    await page.goto(f"{site.url}/demo/{site.workspace}?email=vera@example.org#top")
    await page.get_by_role("button", name="Chat").click()
    await _send(page, "Can you see this page?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    token = await agent_token(site.world, site.admin)
    console = await open_socket(f"{site.ws_url}/api/v1/ws/console", token=token)
    try:
        await console.send(type="subscribe", conversation_id=conversation_id, since=1)
        await console.recv_until(lambda f: f["type"] == "subscribed")
        assert not [f for f in await console.nothing_for(0.5) if f["type"] == "mirror"]

        await expect(page.get_by_text(mirror_text)).to_be_visible()
        await page.get_by_role("button", name="Share the page I am on").click()
        mirror = await console.recv_until(lambda f: f["type"] == "mirror")
        assert mirror["kind"] == "snapshot"  # the page itself: tests/browser/test_cobrowsing.py
        assert mirror["url"] == f"{site.url}/demo/{site.workspace}"  # no query, no fragment
        assert mirror["title"].endswith("demo shop")
        assert "vera@example.org" not in json.dumps(mirror)
        await page.get_by_role("button", name="Stop sharing").click()
        await expect(page.get_by_role("button", name="Share the page I am on")).to_be_visible()
    finally:
        await console.connection.close()
    async with site.rt.db.session() as session:
        decisions = (
            await session.scalars(
                select(ConsentRecord.decision)
                .where(ConsentRecord.purpose == "mirroring")
                .order_by(ConsentRecord.decided_at)
            )
        ).all()
    assert decisions == ["granted", "withdrawn"]


async def test_prechat_form_identifies_the_visitor_before_the_chat(
    site: Site, new_page: NewPage
) -> None:
    await _api(
        site,
        "PATCH",
        "/workspace/widget",
        json={"prechat_enabled": True, "prechat_ask_name": True, "prechat_ask_email": True},
    )
    page = await new_page()
    await _open_demo(page, site)
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Your name").fill("Pat Prechat")
    await dialog.get_by_label("Your e-mail").fill("not an address")
    await dialog.get_by_role("button", name="Start chat").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Please enter a valid e-mail address.")
    await dialog.get_by_label("Your e-mail").fill("pat@example.org")
    await dialog.get_by_role("button", name="Start chat").click()
    await _send(page, "Hello after the form")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    detail = await _api(site, "GET", f"/conversations/{await _stored_conversation(page, site)}")
    visitor = detail.json()["visitor"]
    assert (visitor["name"], visitor["email"]) == ("Pat Prechat", "pat@example.org")
    await page.reload()
    await page.get_by_role("button", name="Chat").click()
    await expect(_log(page).get_by_text("Hello after the form")).to_be_visible()  # no form again


def _relative_luminance(rgb: tuple[int, ...]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    la, lb = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


async def test_text_on_any_accent_colour_keeps_aa_contrast(site: Site, new_page: NewPage) -> None:
    for accent in ("#ffd400", "#2f5bea", "#0b3d2e", "#ff7ab6"):
        await _api(site, "PATCH", "/workspace/widget", json={"accent_color": accent})
        page = await new_page()  # a fresh browser cache: the config is cacheable for a minute
        await page.goto(f"{site.url}/demo/{site.workspace}")
        launcher = page.get_by_role("button", name="Chat")
        colours = await launcher.evaluate(
            "(el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]"
        )
        text, background = (
            tuple(int(part) for part in re.findall(r"\d+", colour)[:3]) for colour in colours
        )
        assert background == tuple(int(accent[i : i + 2], 16) for i in (1, 3, 5))
        assert _contrast(text, background) >= 4.5, (accent, colours)


async def test_messages_typed_while_the_chat_starts_join_the_same_conversation(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    for text in ("One", "Two", "Three"):
        await _send(page, text)  # no waiting: the first one is still creating the conversation
    log = _log(page)
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(3)
    await expect(log.locator(".msg.me")).to_have_text(["One", "Two", "Three"])
    assert await _count(site, Conversation) == 1
    assert await _count(site, Message) == 3


async def test_a_refused_send_is_marked_and_can_be_retried(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "First")
    log = _log(page)
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(1)
    site.rt.settings.visitor_messages_per_minute = 2  # the real limiter refuses the third
    try:
        await _send(page, "Second")
        await expect(log.locator(".msg.me:not(.pending)")).to_have_count(2)
        await _send(page, "Third, too fast")
        await expect(page.get_by_role("alert")).to_have_text(
            "You are sending messages too fast; wait a moment."
        )
        await expect(log.locator(".msg.me.failed")).to_have_text("Third, too fast (not sent)")
        assert await _count(site, Message) == 2
    finally:
        site.rt.settings.visitor_messages_per_minute = 30
    await log.get_by_role("button", name="Not sent. Retry").click()
    await expect(log.locator(".msg.me.failed")).to_have_count(0)
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(3)
    assert await _count(site, Message) == 3


async def test_an_agent_closing_the_chat_brings_the_survey_and_a_new_chat_can_start(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Thanks, that is all")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    first = await _stored_conversation(page, site)
    await _api(site, "POST", f"/conversations/{first}/close")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    await dialog.get_by_text("5", exact=True).click()
    await dialog.get_by_role("button", name="Send rating").click()
    await expect(dialog.get_by_text("Thank you for your feedback")).to_be_visible()
    async with site.rt.db.session() as session:
        rated = await session.get(Conversation, uuid.UUID(first))
        assert rated is not None and rated.csat_score == 5

    await dialog.get_by_role("button", name="Start a new chat").click()
    await _send(page, "One more question")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    assert await _stored_conversation(page, site) != first
    assert await _count(site, Conversation) == 2


async def test_the_widget_works_from_another_origin_only_where_allowed(
    site: Site, new_page: NewPage
) -> None:
    # A page that is not Confide's (an opaque origin: the browser sends "Origin: null"), so every
    # API call is a real cross-origin request with its preflight.
    host_page = (
        "<!doctype html><title>Elsewhere</title><h1>Another site</h1>"
        f'<script src="{site.url}/widget.js" data-workspace="{site.workspace}" async></script>'
    )
    page = await new_page()
    await page.set_content(host_page)
    assert await page.evaluate("window.origin") == "null"
    await page.get_by_role("button", name="Chat").click()
    await _send(page, "Hello from elsewhere")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    assert await _count(site, Message) == 1

    await _api(
        site, "PATCH", "/workspace/widget", json={"allowed_origins": ["https://shop.example.com"]}
    )
    refused = await new_page()
    blocked: list[str] = []
    refused.on("requestfailed", lambda r: blocked.append(r.url))
    await refused.set_content(host_page)
    # Refused with 403 and no CORS header: the browser does not even hand the answer over.
    await _until(lambda: bool(blocked))
    assert blocked == [f"{site.url}/api/v1/widget/{site.workspace}/config?lang=en-US"]
    await refused.wait_for_timeout(300)
    assert await refused.locator("#confide-widget").count() == 0
