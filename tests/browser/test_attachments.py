"""Attachments in a real browser: files dropped on and pasted into the widget and the console
arrive as cards with thumbnails; a program dressed as a picture is refused with the reason."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import quote

from playwright.async_api import Page, expect

from confide.chat.attachment_settings import load_settings
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    team_agent,
    visitor,
)
from tests.browser.test_widget import _log, _open_demo, _send, _until_true
from tests.browser.test_widget_accessibility import _serious, axe_source  # noqa: F401
from tests.chat.attachment_helpers import EXECUTABLE, jpeg_with_gps, png
from tests.conftest import Account

# Builds a File in the page and hands it over as a drop (on ``target``) or a paste (into it).
_GIVE_FILE = """
async ({ b64, name, type, how, selector, shadow }) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  const root = shadow ? document.getElementById("confide-widget").shadowRoot : document;
  const target = root.querySelector(selector);
  const options = { bubbles: true, cancelable: true };
  if (how === "drop") {
    target.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, ...options }));
    target.dispatchEvent(new DragEvent("drop", { dataTransfer: data, ...options }));
  } else {
    target.focus();
    target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, ...options }));
  }
}
"""


async def _give(
    page: Page, data: bytes, name: str, mime: str, how: str, selector: str, *, shadow: bool
) -> None:
    await page.evaluate(
        _GIVE_FILE,
        {
            "b64": base64.b64encode(data).decode(),
            "name": name,
            "type": mime,
            "how": how,
            "selector": selector,
            "shadow": shadow,
        },
    )


async def _loaded(page: Page, locator: Any) -> None:
    """The image is shown and its bytes decoded (the signed link served a real picture)."""
    await expect(locator).to_be_visible(timeout=TIMEOUT_MS)
    for _ in range(100):
        if await locator.evaluate("img => img.complete && img.naturalWidth > 0"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the thumbnail never loaded")


async def test_the_widget_takes_files_by_drop_and_paste(
    site: Site,
    new_page: NewPage,
    screenshot: Any,
    axe_source: str,  # noqa: F811
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Here is a photo of the broken part")
    await expect(_log(page).get_by_text("Here is a photo of the broken part")).to_be_visible()
    await _until_true(
        page,
        f"!!(JSON.parse(localStorage.getItem('confide.{site.workspace}') || '{{}}')).conversation",
    )
    await _give(
        page, jpeg_with_gps(), "broken-part.jpg", "image/jpeg", "drop", ".panel", shadow=True
    )
    await _loaded(page, _log(page).locator(".filecard img"))
    await expect(_log(page).get_by_role("link", name="broken-part.jpg")).to_be_visible()
    await _give(
        page, b"Order 1042, size 42\n", "order.txt", "text/plain", "paste", "textarea", shadow=True
    )
    await expect(_log(page).get_by_role("link", name="order.txt")).to_be_visible(timeout=TIMEOUT_MS)
    await screenshot(page, "widget-attachments")
    assert await _serious(page, site, axe_source) == []  # file cards and the attach button
    # A program named like a picture: refused, and the widget says why.
    await _give(page, EXECUTABLE, "cute-cat.png", "image/png", "drop", ".panel", shadow=True)
    await expect(page.get_by_text("Programs cannot be sent in a chat.")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(_log(page).get_by_role("link", name="cute-cat.png")).to_have_count(0)


async def test_the_console_shows_the_visitors_file_and_takes_drops_and_pastes(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    conversation_id = await visitor.start("My receipt is attached")
    sent = await visitor.http.post(
        f"/api/v1/widget/conversations/{conversation_id}/attachments",
        content=png((320, 200)),
        headers={**visitor.headers, "X-Confide-Filename": quote("receipt.png")},
    )
    assert sent.status_code == 201, sent.text
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.locator('body[data-socket="online"]').wait_for()
    messages = page.locator("#messages")
    await _loaded(page, messages.locator('li[data-kind="file"] img').first)
    await expect(messages.get_by_role("link", name="receipt.png")).to_be_visible()

    await _give(
        page,
        jpeg_with_gps((640, 480)),
        "label.jpg",
        "image/jpeg",
        "drop",
        "#composer",
        shadow=False,
    )
    await expect(messages.get_by_role("link", name="label.jpg")).to_be_visible(timeout=TIMEOUT_MS)
    await _give(
        page,
        b"Tracking: 00340434\n",
        "tracking.txt",
        "text/plain",
        "paste",
        "#composer-input",
        shadow=False,
    )
    await expect(messages.get_by_role("link", name="tracking.txt")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(messages.locator('li[data-kind="file"] img')).to_have_count(2)
    await screenshot(page, "console-attachments")
    # The visitor's side lists all three, each with a fresh signed link.
    listed = await visitor.http.get(
        f"/api/v1/widget/conversations/{conversation_id}/attachments", headers=visitor.headers
    )
    assert [a["name"] for a in listed.json()["attachments"]] == [
        "receipt.png",
        "label.jpg",
        "tracking.txt",
    ]


async def test_an_admin_sets_file_limits_and_declares_an_attribute(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=1280, height=1000)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/files")
    await page.get_by_label("Largest file (MB)").fill("2")
    await page.get_by_label("PDF").uncheck()
    await page.get_by_role("button", name="Save file settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.", timeout=TIMEOUT_MS)
    await expect(page.get_by_label("Largest file (MB)")).to_have_value("2")
    await expect(page.get_by_label("PDF")).not_to_be_checked()

    await page.get_by_label("Name").fill("Shoe size")  # refused: not a name
    await page.get_by_label("Purpose").fill("Size advice")
    await page.get_by_label("Kept for (days)").fill("90")
    await page.get_by_role("button", name="Declare attribute").click()
    await expect(page.locator("#err-name")).to_contain_text("lowercase letters")
    await page.get_by_label("Name").fill("shoe_size")
    await page.get_by_role("button", name="Declare attribute").click()
    row = page.get_by_role("row", name="shoe_size Size advice 90 days")
    await expect(row).to_be_visible(timeout=TIMEOUT_MS)
    await screenshot(page, "console-settings-files", full_page=True)
    async with site.rt.db.session() as session:
        limits = await load_settings(session, site.workspace_id)
    assert limits.max_bytes == 2 * 1024 * 1024 and "pdf" not in limits.allowed_types


async def test_an_agent_keeps_a_declared_attribute_from_the_visitor_panel(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    team_agent: Account,  # noqa: F811
    screenshot: Any,
) -> None:
    admin = await site.world.headers(site.admin)
    declared = await site.world.client.post(
        "/api/v1/visitor-attributes",
        json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 90},
        headers=admin,
    )
    assert declared.status_code == 201, declared.text
    conversation_id = await visitor.start("Which size should I take?")
    page = await new_page(width=1440, height=900)
    await sign_in(page, site, team_agent)
    await page.goto(f"{site.url}/console/conversations/{conversation_id}")
    await page.get_by_label("Attribute").select_option("shoe_size")
    await page.get_by_label("Value", exact=True).fill("EU 42")
    await page.get_by_role("button", name="Keep value").click()
    kept = page.locator("#visitor-pane dd", has_text="EU 42")
    await expect(kept).to_contain_text("Size advice", timeout=TIMEOUT_MS)
    await screenshot(page, "console-visitor-attributes")
