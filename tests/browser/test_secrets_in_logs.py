"""A full widget + console session leaves no token or secret in the server's log, and no
credential in any URL the browsers requested (URLs end up in server, proxy and browser logs)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from playwright.async_api import WebSocket, expect

from confide.access.models import Role
from confide.core.logging import NOISY_LOGGERS
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in


async def test_a_widget_and_console_session_leaves_no_secret_in_the_log_or_a_url(
    site: Site, new_page: NewPage, caplog: pytest.LogCaptureFixture
) -> None:
    # The production set-up (confide.core.logging): INFO, chatty libraries at WARNING.
    for name in NOISY_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    caplog.set_level(logging.INFO)  # last: set_level also sets the capturing handler's level
    group = await site.world.group("Support", slug=site.workspace)
    agent = await site.world.operator("sam", Role.AGENT, slug=site.workspace, groups=[group])
    sockets: list[str] = []

    console = await new_page(width=1440, height=900)
    console.on("websocket", lambda ws: sockets.append(ws.url))
    await sign_in(console, site, agent)
    await console.locator('body[data-socket="online"]').wait_for()

    shop = await new_page()
    widget_sockets: list[WebSocket] = []
    shop.on("websocket", lambda ws: (sockets.append(ws.url), widget_sockets.append(ws)))
    await shop.goto(f"{site.url}/demo/{site.workspace}")
    await shop.get_by_role("button", name="Chat", exact=False).first.click()
    composer = shop.get_by_role("textbox", name="Write a message")
    await composer.fill("Hello, is the shop open on Sunday?")
    await composer.press("Enter")
    log = shop.get_by_role("log", name="Messages")
    await expect(log.locator(".msg.me:not(.pending)")).to_have_count(1)

    waiting = console.locator("#list-waiting .conv-item")
    await expect(waiting).to_have_count(1, timeout=TIMEOUT_MS)
    await waiting.locator("a").click()
    reply = console.get_by_label(re.compile(r"^Reply to"))
    await reply.fill("Yes, from ten to four.")
    await reply.press("Enter")
    await expect(log.get_by_text("Yes, from ten to four.")).to_be_visible(timeout=TIMEOUT_MS)
    assert widget_sockets, "the widget never opened its socket"

    # Every credential of the session: the visitor's token, the console's cookies (access,
    # refresh, CSRF), the agent's password, and the instance secret.
    stored = await shop.evaluate(f"localStorage.getItem('confide.{site.workspace}')")
    visitor_token = json.loads(stored)["token"]
    all_cookies = await console.context.cookies()
    cookies = [c["value"] for c in all_cookies if len(c["value"]) >= 16]
    secrets = {
        "visitor token": visitor_token,
        "agent password": agent.password,
        **{f"console cookie {i}": value for i, value in enumerate(cookies)},
        "instance secret": site.rt.secret.derive("jwt-signing").hex(),
    }
    assert len(cookies) >= 2, cookies  # the scan looked for the session cookies
    # The log did record the handshakes, so the scan read the lines that used to leak.
    handshakes = [
        r.getMessage() for r in caplog.records if "WebSocket /api/v1/ws/" in r.getMessage()
    ]
    assert any("/api/v1/ws/widget" in line for line in handshakes), handshakes
    assert any("/api/v1/ws/console" in line for line in handshakes), handshakes
    leaked = {name for name, value in secrets.items() if value in caplog.text}
    assert leaked == set()
    in_urls = {name for name, value in secrets.items() if any(value in url for url in sockets)}
    assert in_urls == set()
    assert all("?" not in url for url in sockets), sockets
    # And no client address either (personal data).
    assert "127.0.0.1" not in "\n".join(handshakes)
