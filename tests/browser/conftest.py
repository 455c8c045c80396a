"""Browser tests: Playwright driving Debian's chromium against a live Confide on loopback.

Never downloads a browser: chromium comes from the Debian package (``/usr/bin/chromium``, or
``CONFIDE_TEST_CHROMIUM``). Every page records each request it makes; a test fails at teardown
if any request left the Confide origin (a privacy product loads nothing from third parties) or
if the page raised an uncaught error. Screenshots land in ``docs/screenshots/`` so the README
always shows the current screens.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from confide.access.models import Role
from confide.core.config import Settings
from confide.runtime import Runtime
from tests.conftest import Account, LiveServer, World

# How long an expectation waits for the page to reach its state (Playwright's default: 5 s).
# CI runs the SQLite and PostgreSQL suites side by side on 2 cores (load average up to 7): a
# console's REST call and re-render once took longer than 5 s there. A passing expectation
# returns as soon as the state is reached, so this costs nothing when the page is quick.
expect.set_options(timeout=15_000)

CHROMIUM = Path(os.environ.get("CONFIDE_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# Without the background-networking switches chromium phones home (component updates,
# safe browsing); those requests would leave the machine and are not the page's own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ALLOWED_SCHEMES = ("data:", "blob:", "about:")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@dataclass
class Site:
    """A live Confide instance with one workspace, an admin and an agent."""

    url: str
    ws_url: str
    workspace: str
    workspace_id: uuid.UUID
    admin: Account
    agent: Account
    rt: Runtime
    world: World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A little more room for wrong codes typed in the sign-in tests; cookies stay Secure
    # (browsers accept Secure cookies on http://127.0.0.1).
    return settings.with_overrides(lockout_threshold=5)


@pytest.fixture
async def site(rt: Runtime, world: World, live_server: LiveServer) -> Site:
    workspace_id = await world.workspace("demo-shop")
    admin = await world.operator("ada", Role.ADMIN, slug="demo-shop", name="Ada Admin", alias="Ada")
    agent = await world.operator(
        "alex", Role.AGENT, slug="demo-shop", name="Alex Agent", alias="Alex"
    )
    return Site(
        url=live_server.http_url,
        ws_url=live_server.ws_url,
        workspace="demo-shop",
        workspace_id=workspace_id,
        admin=admin,
        agent=agent,
        rt=rt,
        world=world,
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
        "the browser tests never download a browser."
    )
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        await instance.close()


@dataclass
class _PageLog:
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


NewPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser, site: Site) -> AsyncIterator[NewPage]:
    """Open pages in fresh contexts; afterwards check where they went and what they threw."""
    logs: list[_PageLog] = []
    contexts = []
    allowed: list[str] = [site.url, site.ws_url]

    async def factory(
        width: int = 1280,
        height: int = 800,
        *,
        also_allowed: tuple[str, ...] = (),
        **context_options: Any,
    ) -> Page:
        """``also_allowed``: further origins this page may reach (a customer's own site)."""
        allowed.extend(also_allowed)
        context = await browser.new_context(
            viewport={"width": width, "height": height}, **context_options
        )
        contexts.append(context)
        log = _PageLog()
        logs.append(log)
        context.on("request", lambda request: log.requests.append(request.url))
        page = await context.new_page()
        page.on("pageerror", lambda error: log.errors.append(str(error)))
        page.on("dialog", lambda dialog: log.errors.append(f"dialog opened: {dialog.message}"))
        return page

    yield factory
    for context in contexts:
        await context.close()
    origins = tuple(allowed)
    outside = [
        url
        for log in logs
        for url in log.requests
        if not url.startswith(origins) and not url.startswith(ALLOWED_SCHEMES)
    ]
    assert not outside, f"requests left the Confide origin: {outside}"
    errors = [error for log in logs for error in log.errors]
    assert not errors, f"the page raised errors or opened dialogs: {errors}"
    assert any(log.requests for log in logs), "no page made any request"


async def save_screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save docs/screenshots/<name>.png (the README shows these)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def screenshot() -> Callable[..., Awaitable[Path]]:
    """``await screenshot(page, "console-desktop")`` writes docs/screenshots/<name>.png."""
    return save_screenshot
