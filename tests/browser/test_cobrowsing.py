"""Page mirroring, co-browsing and the typing preview in two real browser contexts, a visitor
and an agent.

The visitor's page is a shop checkout with a field marked ``data-confide-hide``, a password, a
card number field and a hidden block: whatever is typed or shown there must never reach the
agent, which every frame the console received (and every frame the widget sent) is checked
for. Without consent no mirroring frame leaves the browser, and nothing typed before it is
sent; with the preview grant the agent sees the draft, redacted in the browser. Co-browsing is
asked for by the agent, refused (no control), then accepted: the agent points at the Pay button
and the visitor's page outlines it, opens another page of the shop, and the visitor's Stop ends
it within one second on the console.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Page, WebSocket, expect
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.privacy.models import ConsentRecord
from tests.browser.conftest import NewPage, Site, save_screenshot
from tests.browser.test_console import TIMEOUT_MS, sign_in

MIRROR_TEXT = "Let our agents see the page you are on? Passwords and hidden fields never are."
PREVIEW_TEXT = "Let our agents see what you type before you send it?"
COBROWSE_TEXT = "Let an agent guide you on this page? You can stop at any time."
SECRETS = (
    "TOPSECRET-HIDE-123",
    "hunter2-PASSWORD",
    "4111",
    "HIDDEN-LOYALTY-7731",
    "CHANGED-8842",
    "GIFT-NOTE-6615",
    "RICHTEXT-3391",
)
SHOP_PATH = "/shop/checkout"
# A 1x1 transparent PNG: the shop's logo.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def _shop_html(site: Site, heading: str = "Checkout") -> str:
    # The customer's page embedding the widget; the image is the shop's own, which the console
    # must never fetch.
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{heading} — Test shop</title>
<style>body {{ font-family: sans-serif; margin: 2rem; }} .total {{ color: #0a6640; }}
form {{ display: grid; gap: .5rem; max-width: 24rem; }}</style></head>
<body><h1>{heading}</h1><img src="/shop/logo.png" width="64" height="32" alt="Shop logo">
<p class="total">Total due: 42 EUR</p>
<form>
<label>Secret note <input id="secret" data-confide-hide></label>
<label>Password <input id="password" type="password"></label>
<label>Card number <input id="card" autocomplete="cc-number"></label>
<div data-confide-hide><p id="hidden-text">Loyalty code HIDDEN-LOYALTY-7731</p></div>
<div id="gift" contenteditable="true" role="textbox" aria-label="Gift message"></div>
<button type="button" id="pay" onclick="this.textContent='Paid'">Pay now</button>
</form>
<p id="step">Step 1 of 3</p><p><a href="/shop/delivery">Delivery options</a></p>
<script src="{site.url}/widget.js" data-workspace="{site.workspace}" async></script>
</body></html>"""


async def _publish(site: Site, purpose: str, text: str) -> None:
    headers = await site.world.headers(site.admin)
    response = await site.world.client.put(
        f"/api/v1/consent/requests/{purpose}", json={"version": "1", "text": text}, headers=headers
    )
    assert response.status_code == 200, response.text


def _record(sink: list[dict[str, Any]]) -> Any:
    def on_socket(ws: WebSocket) -> None:
        def keep(payload: str | bytes) -> None:
            text = payload if isinstance(payload, str) else payload.decode()
            with contextlib.suppress(ValueError):
                sink.append(json.loads(text))

        ws.on("framereceived", keep)
        ws.on("framesent", keep)

    return on_socket


@pytest.fixture
async def shop_url(site: Site) -> AsyncIterator[str]:
    """The customer's own web server on another port (another origin), as in production."""

    async def checkout(_request: Request) -> HTMLResponse:
        return HTMLResponse(_shop_html(site))

    async def delivery(_request: Request) -> HTMLResponse:
        return HTMLResponse(_shop_html(site, "Delivery options"))

    async def logo(_request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    app = Starlette(
        routes=[
            Route(SHOP_PATH, checkout),
            Route("/shop/delivery", delivery),
            Route("/shop/logo.png", logo),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the customer's server did not start"
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    await task


async def _shop(new_page: NewPage, shop_url: str, sent: list[dict[str, Any]]) -> Page:
    shop = await new_page(width=1280, height=800, also_allowed=(shop_url,))
    shop.on("websocket", _record(sent))
    await shop.goto(f"{shop_url}{SHOP_PATH}")
    return shop


async def _start_chat(shop: Page) -> Any:
    await shop.get_by_role("button", name="Chat", exact=False).first.click()
    widget = shop.get_by_role("dialog", name="Chat with us")
    composer = shop.get_by_role("textbox", name="Write a message")
    await composer.fill("Hello, can you help me pay?")
    await composer.press("Enter")
    await expect(widget.locator(".msg.me:not(.pending)")).to_have_count(1)
    return widget


async def _console(new_page: NewPage, site: Site, received: list[dict[str, Any]]) -> Page:
    group = await site.world.group("Support", slug=site.workspace)
    agent = await site.world.operator(
        "sam", Role.AGENT, slug=site.workspace, groups=[group], name="Sam Support", alias="Sam"
    )
    console = await new_page(width=1440, height=900)
    console.on("websocket", _record(received))
    await sign_in(console, site, agent)
    await console.locator('body[data-socket="online"]').wait_for()
    return console


async def _open_conversation(console: Page) -> None:
    waiting = console.locator("#list-waiting .conv-item")
    await expect(waiting).to_have_count(1, timeout=TIMEOUT_MS)
    await waiting.locator("a").click()
    await console.locator('body[data-socket="online"]').wait_for()
    await expect(console.locator("#messages .msg--visitor")).to_have_count(1)


async def _until(condition: Any) -> None:
    for _ in range(TIMEOUT_MS // 50):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the awaited frame never came")


def _mirror_frames(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == "mirror"]


async def test_the_agent_sees_the_page_but_never_hidden_or_password_values(
    site: Site, new_page: NewPage, shop_url: str
) -> None:
    await _publish(site, "mirroring", MIRROR_TEXT)
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    console = await _console(new_page, site, received)
    console_requests: list[str] = []
    console.on("request", lambda request: console_requests.append(request.url))
    shop = await _shop(new_page, shop_url, sent)
    await shop.locator("#secret").fill("TOPSECRET-HIDE-123")
    await shop.locator("#password").fill("hunter2-PASSWORD")
    await shop.locator("#card").fill("4111 1111 1111 1111")
    await shop.locator("#gift").fill("GIFT-NOTE-6615")  # a rich-text box: typed, never shown
    widget = await _start_chat(shop)
    await _open_conversation(console)

    await widget.get_by_role("button", name="Share the page I am on").click()
    mirrored = console.frame_locator("iframe.mirror-frame")
    await expect(mirrored.get_by_text("Total due: 42 EUR")).to_be_visible(timeout=TIMEOUT_MS)
    await expect(console.locator("#mirror-panel .mirror-where")).to_contain_text(
        "Checkout — Test shop"
    )
    # The private fields are placeholders in the agent's copy; the image a sized box.
    for kind in ("hidden", "password", "card", "image", "field"):
        await expect(mirrored.locator(f'svg[data-ph="{kind}"]').first).to_be_attached()

    # Changes follow (MutationObserver): visible text does, a change inside a hidden block and
    # what the visitor types next do not.
    await shop.locator("#secret").fill("TOPSECRET-HIDE-123 and more")
    await shop.locator("#gift").press_sequentially(" RICHTEXT-3391")
    await shop.evaluate("document.getElementById('hidden-text').textContent = 'CHANGED-8842'")
    await shop.evaluate("document.getElementById('step').textContent = 'Step 2 of 3'")
    await expect(mirrored.get_by_text("Step 2 of 3")).to_be_visible(timeout=TIMEOUT_MS)
    await save_screenshot(console, "mirroring-agent")

    # pushState navigation (a single-page shop): a new copy under the new address.
    await shop.evaluate(
        "history.pushState({}, '', '/shop/checkout/review');"
        "document.querySelector('h1').textContent = 'Review your order'"
    )
    await expect(console.locator("#mirror-panel .mirror-where")).to_contain_text(
        "/shop/checkout/review", timeout=TIMEOUT_MS
    )
    await expect(mirrored.get_by_role("heading", name="Review your order")).to_be_visible()

    relayed = _mirror_frames(received)
    assert {f["kind"] for f in relayed} >= {"snapshot", "diff", "scroll"}
    for frame in relayed + _mirror_frames(sent):
        text = json.dumps(frame)
        assert not [secret for secret in SECRETS if secret in text], frame.get("kind")
    # The console rendered the copy without a script and fetched nothing from the shop.
    assert await console.locator("iframe.mirror-frame").get_attribute("sandbox") == ""
    assert not [url for url in console_requests if url.startswith(shop_url)]


async def test_without_consent_no_mirroring_frame_leaves_the_browser(
    site: Site, new_page: NewPage, shop_url: str
) -> None:
    await _publish(site, "mirroring", MIRROR_TEXT)
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    console = await _console(new_page, site, received)
    shop = await _shop(new_page, shop_url, sent)
    shop_requests: list[str] = []
    shop.on("request", lambda request: shop_requests.append(request.url))
    widget = await _start_chat(shop)
    await _open_conversation(console)
    await expect(widget.get_by_role("button", name="Share the page I am on")).to_be_visible()

    # A positive event after which any mirroring would have been sent: the agent's reply
    # reaches the visitor over the same socket.
    reply = console.get_by_label(re.compile(r"^Reply to"))
    await reply.fill("Of course, what is the problem?")
    await reply.press("Enter")
    await expect(widget.get_by_text("Of course, what is the problem?")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await shop.evaluate("document.getElementById('step').textContent = 'Step 2 of 3'")
    await shop.get_by_role("textbox", name="Write a message").fill("typing a draft")
    await widget.get_by_text("Hello, can you help me pay?").click()
    assert [f for f in sent if f.get("type") == "subscribe"], "the widget's socket was watched"
    assert _mirror_frames(sent) == []
    assert [f.get("preview") for f in sent if f.get("type") == "typing" and "preview" in f] == []
    assert not [url for url in shop_requests if url.endswith("/cobrowse.js")]
    await expect(console.locator("#mirror-panel")).to_be_hidden()
    # An ended chat offers no more sharing: there is nobody to share with.
    await widget.get_by_role("button", name="End chat").click()
    await widget.get_by_role("button", name="Yes, end the chat").click()
    await expect(widget.get_by_text("How was your chat?")).to_be_visible()
    assert await widget.locator("[data-share]").count() == 0


async def test_cobrowsing_refused_gives_no_control_accepted_highlights_and_stop_ends_it(
    site: Site, new_page: NewPage, shop_url: str
) -> None:
    await _publish(site, "mirroring", MIRROR_TEXT)
    await _publish(site, "cobrowsing", COBROWSE_TEXT)
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    console = await _console(new_page, site, received)
    shop = await _shop(new_page, shop_url, sent)
    widget = await _start_chat(shop)
    await widget.get_by_role("button", name="Share the page I am on").click()
    await expect(widget.get_by_text("Our team sees the page you are on")).to_be_visible()
    # The agent opens the chat after the page was shared: the console asks for a whole copy.
    await _open_conversation(console)
    mirrored = console.frame_locator("iframe.mirror-frame")
    await expect(mirrored.get_by_text("Total due: 42 EUR")).to_be_visible(timeout=TIMEOUT_MS)
    ask = console.get_by_role("button", name="Ask for control")
    controls = console.locator(".cobrowse-controls")
    status = console.locator(".mirror-status")

    # Refused: the agent gets no control, the visitor's page no banner.
    await ask.click()
    await expect(widget.get_by_text(COBROWSE_TEXT)).to_be_visible(timeout=TIMEOUT_MS)
    await widget.get_by_role("button", name="Refuse").click()
    await expect(status).to_have_text("The visitor refused co-browsing.", timeout=TIMEOUT_MS)
    await expect(controls).to_be_hidden()
    await expect(shop.locator("#confide-cobrowse-banner")).to_have_count(0)

    # Accepted: the agent points at the Pay button; the visitor's page outlines it.
    await ask.click()
    await widget.get_by_role("button", name="Allow").click()
    banner = shop.locator("#confide-cobrowse-banner")
    await expect(banner).to_contain_text("An agent is guiding you on this page.")
    await expect(controls).to_be_visible(timeout=TIMEOUT_MS)
    cobrowsing_consent = console.locator(".consent-list li", has_text="cobrowsing")
    await expect(cobrowsing_consent).to_have_text(re.compile(r"^cobrowsing\s+granted$"))
    await console.get_by_label("Point at").select_option(label="button: Pay now")
    await console.get_by_role("button", name="Highlight").click()
    outline = shop.locator("#confide-cobrowse-highlight")
    await expect(outline).to_be_visible(timeout=TIMEOUT_MS)
    box, pay = await outline.bounding_box(), await shop.locator("#pay").bounding_box()
    assert box and pay
    assert box["x"] <= pay["x"] and box["y"] <= pay["y"]
    assert box["x"] + box["width"] >= pay["x"] + pay["width"]
    assert box["y"] + box["height"] >= pay["y"] + pay["height"]
    await save_screenshot(shop, "cobrowse-visitor")
    await save_screenshot(console, "cobrowse-agent")

    # Another site is refused in the console itself, with a reason; the visitor stays put.
    await console.get_by_label("Open an address on the visitor's site").fill("https://x.test/")
    await console.get_by_role("button", name="Open", exact=True).click()
    await expect(console.locator("#mirror-panel .mirror-status")).to_contain_text(
        "Only addresses on the visitor's site"
    )
    # The agent opens another page of the same site: the visitor's page goes there, and
    # co-browsing and the mirror follow.
    await console.get_by_label("Open an address on the visitor's site").fill("/shop/delivery")
    await console.get_by_role("button", name="Open", exact=True).click()
    await expect(shop).to_have_url(f"{shop_url}/shop/delivery", timeout=TIMEOUT_MS)
    await expect(banner).to_be_visible(timeout=TIMEOUT_MS)
    await expect(mirrored.get_by_role("heading", name="Delivery options")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    carried = f"sessionStorage.getItem('confide.{site.workspace}.cobrowse')"
    assert await shop.evaluate(carried) is None  # read and removed as the page loaded

    # One click on the banner ends it; the console shows it within a second.
    await banner.get_by_role("button", name="Stop").click()
    await expect(status).to_have_text("The visitor stopped co-browsing.", timeout=1000)
    await expect(controls).to_be_hidden()
    await expect(banner).to_have_count(0)

    # Closing the widget ends it as well.
    await ask.click()
    await widget.get_by_role("button", name="Allow").click()
    await expect(banner).to_be_visible()
    await expect(controls).to_be_visible(timeout=TIMEOUT_MS)
    await widget.get_by_role("button", name="Close chat window").click()
    await expect(status).to_have_text("The visitor stopped co-browsing.", timeout=TIMEOUT_MS)
    await expect(controls).to_be_hidden()
    await expect(banner).to_have_count(0)

    # Every start, refusal and stop is in the consent ledger and in the audit ledger (the
    # console hears of the withdrawal once it is committed).
    await _until(lambda: sum(f.get("decision") == "withdrawn" for f in received) == 2)
    async with site.rt.db.session() as session:
        decisions = (
            await session.scalars(
                select(ConsentRecord.decision)
                .where(ConsentRecord.purpose == "cobrowsing")
                .order_by(ConsentRecord.decided_at)
            )
        ).all()
        audited = (
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("cobrowse.%"))
                .order_by(AuditEvent.at)
            )
        ).all()
    assert decisions == ["refused", "granted", "withdrawn", "granted", "withdrawn"]
    assert sorted(audited) == [
        "cobrowse.refuse",
        "cobrowse.start",
        "cobrowse.start",
        "cobrowse.stop",
        "cobrowse.stop",
    ]


async def test_the_typing_preview_goes_only_with_its_grant_and_redacted_in_the_browser(
    site: Site, new_page: NewPage, shop_url: str
) -> None:
    await _publish(site, "preview", PREVIEW_TEXT)
    received: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    console = await _console(new_page, site, received)
    shop = await _shop(new_page, shop_url, sent)
    widget = await _start_chat(shop)
    await _open_conversation(console)
    composer = shop.get_by_role("textbox", name="Write a message")
    typing = console.locator("#typing")

    # Without the grant the agent sees that the visitor types, not what.
    await composer.fill("draft before the grant 5500")
    await expect(typing).to_have_text(re.compile(r"is typing…$"), timeout=TIMEOUT_MS)
    await composer.fill("")

    await widget.get_by_role("button", name="Let them see what I type").click()
    await expect(widget.get_by_text("Our team sees what you type")).to_be_visible()
    await composer.press_sequentially("my card is 4111 1111 1111 1111 thanks")
    await expect(typing).to_have_text(
        re.compile(r"is typing: my card is \[redacted card\] thanks$"), timeout=TIMEOUT_MS
    )
    previews = [f["preview"] for f in sent if f.get("type") == "typing" and "preview" in f]
    assert previews and not [p for p in previews if "4111" in p or "5500" in p]
