"""axe-core on the widget in every state, light and dark, for any accent colour: no serious
or critical violation. axe-core comes from the npm registry into .venv/axe (``dev.py test``
installs it) and is handed to the test's own page through a route: Confide never serves it."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import NewPage, Site
from tests.browser.test_widget import _api, _log, _open_demo, _send, _stored_conversation

AXE = Path(
    os.environ.get(
        "CONFIDE_TEST_AXE",
        Path(__file__).resolve().parents[2] / ".venv/axe/node_modules/axe-core/axe.min.js",
    )
)
ACCENTS = ("#2f5bea", "#777777", "#808080", "#ffff00", "#00c2a8", "#ff0000", "#000000", "#ffffff")


@pytest.fixture
def axe_source() -> str:
    assert AXE.exists(), f"{AXE} is missing: `python3 dev.py test` installs axe-core with npm."
    return AXE.read_text("utf-8")


async def _serious(page: Page, site: Site, source: str, only: list[str] | None = None) -> list[str]:
    """Serious and critical violations inside the widget, as readable lines."""
    url = f"{site.url}/__test-only__/axe.min.js"  # answered by the page's route, not Confide
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.route(
            url, lambda route: route.fulfill(body=source, content_type="text/javascript")
        )
        await page.add_script_tag(url=url)
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if only:
        options["runOnly"] = {"type": "rule", "values": only}
    result = await page.evaluate(
        "async (options) => (await window.axe.run({include: [['#confide-widget']]}, options))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target"
        ".join(' ') + ' ' + (n.failureSummary || '')).slice(0, 3)}))",
        options,
    )
    return [
        f"{v['impact']} {v['id']}: {json.dumps(v['nodes'])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


async def test_no_serious_violation_in_any_state(
    site: Site, new_page: NewPage, axe_source: str
) -> None:
    found: dict[str, list[str]] = {}
    await _api(
        site,
        "PUT",
        "/consent/requests/chat",
        json={"version": "1", "text": "We keep this chat to answer you. OK?"},
    )
    await _api(site, "PATCH", "/workspace", json={"consent_required": True})
    await _api(
        site,
        "PUT",
        "/consent/requests/email",
        json={"version": "1", "text": "May we answer by e-mail?"},
    )
    await _api(
        site, "PATCH", "/workspace/widget",
        json={"prechat_enabled": True, "prechat_ask_email": True,
              "engagement_rules": [{"message": "Need a hand?"}]},
    )  # fmt: skip
    page = await new_page()
    await page.goto(f"{site.url}/demo/{site.workspace}")
    await expect(page.get_by_role("button", name="Need a hand?")).to_be_visible()
    found["launcher and greeting bubble"] = await _serious(page, site, axe_source)
    await page.locator("#confide-widget .launcher").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("button", name="Accept and chat")).to_be_visible()
    found["consent"] = await _serious(page, site, axe_source)
    await dialog.get_by_role("button", name="Decline").click()
    await expect(dialog.get_by_text("Chat unavailable without consent")).to_be_visible()
    found["refused"] = await _serious(page, site, axe_source)
    await dialog.get_by_role("button", name="Review my choice").click()
    await dialog.get_by_role("button", name="Accept and chat").click()
    await expect(dialog.get_by_role("button", name="Start chat")).to_be_visible()
    found["pre-chat form"] = await _serious(page, site, axe_source)
    await dialog.get_by_role("button", name="Start chat").click()
    await expect(dialog.locator("[data-confide=away]")).to_be_visible()
    found["chat with away notice"] = await _serious(page, site, axe_source)
    await _send(page, "Hello, is anyone there?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    await _api(
        site, "POST", f"/conversations/{await _stored_conversation(page, site)}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "Hi, Ada here."},
    )  # fmt: skip
    await expect(_log(page).get_by_text("Hi, Ada here.")).to_be_visible()
    found["chat with messages"] = await _serious(page, site, axe_source)
    await dialog.get_by_role("button", name="End chat").click()
    found["end confirmation"] = await _serious(page, site, axe_source)
    await dialog.get_by_role("button", name="Yes, end the chat").click()
    await expect(dialog.get_by_text("How was your chat?")).to_be_visible()
    found["survey"] = await _serious(page, site, axe_source)
    await dialog.get_by_text("5", exact=True).click()
    await dialog.get_by_role("button", name="Send rating").click()
    await expect(dialog.get_by_text("Thank you for your feedback")).to_be_visible()
    found["thanks"] = await _serious(page, site, axe_source)
    assert {state: v for state, v in found.items() if v} == {}


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_text_contrast_meets_aa_for_any_accent_colour(
    site: Site, new_page: NewPage, axe_source: str, scheme: str
) -> None:
    page = await new_page(color_scheme=scheme)
    await _open_demo(page, site)
    await _send(page, "Contrast check")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    failures: dict[str, list[str]] = {}
    for accent in ACCENTS:
        await _api(site, "PATCH", "/workspace/widget", json={"accent_color": accent})
        await page.reload()  # the config is cacheable for 60 s: the reload bypasses it
        await page.locator("#confide-widget .launcher").click()
        await expect(_log(page).get_by_text("Contrast check")).to_be_visible()
        failures[accent] = await _serious(page, site, axe_source, only=["color-contrast"])
    assert {a: v for a, v in failures.items() if v} == {}


async def test_dark_mode_follows_the_visitor_or_the_workspace(
    site: Site, new_page: NewPage, axe_source: str, screenshot: Any
) -> None:
    async def background(page: Page) -> str:
        value: str = await page.evaluate(
            "getComputedStyle(document.getElementById('confide-widget').shadowRoot"
            ".querySelector('.panel')).backgroundColor"
        )
        return value

    dark_visitor = await new_page(color_scheme="dark")
    await _open_demo(dark_visitor, site)
    await _send(dark_visitor, "Evening!")
    await expect(_log(dark_visitor).locator(".msg.me:not(.pending)")).to_have_count(1)
    assert await background(dark_visitor) == "rgb(27, 31, 36)"
    assert await _serious(dark_visitor, site, axe_source) == []
    await screenshot(dark_visitor, "widget-dark-desktop")

    await _api(site, "PATCH", "/workspace/widget", json={"theme": "light"})
    forced_light = await new_page(color_scheme="dark")
    await _open_demo(forced_light, site)
    assert await background(forced_light) == "rgb(255, 255, 255)"

    await _api(site, "PATCH", "/workspace/widget", json={"theme": "dark"})
    forced_dark = await new_page(390, 844, is_mobile=True, has_touch=True, color_scheme="light")
    await _open_demo(forced_dark, site)
    assert await background(forced_dark) == "rgb(27, 31, 36)"
    assert await _serious(forced_dark, site, axe_source) == []
    await screenshot(forced_dark, "widget-dark-mobile")


async def test_the_harness_reports_violations_inside_the_shadow_root(
    site: Site, new_page: NewPage, axe_source: str
) -> None:
    """Proof the checks above can fail: a nameless button and grey-on-grey text planted in the
    widget's shadow root are reported."""
    page = await new_page()
    await _open_demo(page, site)
    await page.evaluate(
        """() => {
          const body = document.getElementById('confide-widget').shadowRoot.querySelector('.body');
          const button = document.createElement('button');
          body.appendChild(button);
          const faint = document.createElement('p');
          faint.textContent = 'Barely readable';
          faint.style.color = '#bbbbbb';
          faint.style.background = '#ffffff';
          body.appendChild(faint);
        }"""
    )
    found = " ".join(await _serious(page, site, axe_source))
    assert "critical button-name" in found and "serious color-contrast" in found
