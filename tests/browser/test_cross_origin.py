"""The widget on a customer's own site: another origin than Confide's, as in production.

A second server on loopback plays the customer's shop and embeds the snippet. The widget must
work through CORS on the widget endpoints and its socket, the page may reach only its own origin
and Confide's, and a workspace that names its allowed origins refuses every other site.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn
from playwright.async_api import Page, expect
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from confide.chat.models import Conversation, Message, Visitor
from tests.browser.conftest import NewPage, Site

TIMEOUT_MS = 10_000


def _shop_page(confide_url: str, workspace: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fjord Outfitters</title>
<style>body {{ font-family: serif; }} button {{ all: unset; color: red; }}</style></head>
<body><h1>Fjord Outfitters</h1><p>Waterproof jackets for every season.</p>
<script src="{confide_url}/widget.js" data-workspace="{workspace}" async></script>
</body></html>"""


@pytest.fixture
async def customer_site(site: Site) -> AsyncIterator[str]:
    """The customer's own web server, on another port: another origin."""

    async def page(_request: Request) -> HTMLResponse:
        return HTMLResponse(_shop_page(site.url, site.workspace))

    app = Starlette(routes=[Route("/", page)])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "the customer's server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _count(site: Site, model: type) -> int:
    async with site.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Write a message")
    await box.fill(text)
    await box.press("Enter")


async def test_widget_chats_from_a_customer_site_on_another_origin(
    site: Site, new_page: NewPage, customer_site: str
) -> None:
    page = await new_page(also_allowed=(customer_site,))
    await page.goto(customer_site)
    launcher = page.get_by_role("button", name="Chat", exact=False).first
    await launcher.click()
    await _send(page, "Do you have the storm jacket in size M?")
    log = page.get_by_role("log", name="Messages")
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(1, timeout=TIMEOUT_MS)

    async with site.rt.db.session() as session:
        conversation = (await session.scalars(select(Conversation))).one()
    admin = await site.world.headers(site.admin)
    answer = await site.world.client.post(
        f"/api/v1/conversations/{conversation.id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "Yes, in navy and olive."},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    await expect(log.get_by_text("Yes, in navy and olive.")).to_be_visible(timeout=TIMEOUT_MS)
    # The host page's own CSS (buttons turned red and unstyled) does not reach the widget.
    colour = await page.evaluate(
        "getComputedStyle(document.getElementById('confide-widget').shadowRoot"
        ".querySelector('button')).color"
    )
    assert colour != "rgb(255, 0, 0)"


async def test_a_site_outside_the_allowed_origins_cannot_use_the_widget(
    site: Site, new_page: NewPage, customer_site: str
) -> None:
    admin = await site.world.headers(site.admin)
    restricted = await site.world.client.patch(
        "/api/v1/workspace/widget",
        json={"allowed_origins": ["https://www.fjord-outfitters.example"]},
        headers=admin,
    )
    assert restricted.status_code == 200, restricted.text

    page = await new_page(also_allowed=(customer_site,))
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.url))
    await page.goto(customer_site)
    await page.wait_for_load_state("networkidle")
    launcher = page.get_by_role("button", name="Chat", exact=False)
    if await launcher.count():  # whatever the widget still shows, a visitor tries to chat
        await launcher.first.click()
        composer = page.get_by_role("textbox", name="Write a message")
        if await composer.is_visible():
            await _send(page, "Hello?")
        await page.wait_for_load_state("networkidle")
    assert await _count(site, Visitor) == 0
    assert await _count(site, Conversation) == 0
    assert await _count(site, Message) == 0
    assert any(url.startswith(site.url) for url in failures), failures
