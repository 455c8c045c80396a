"""The widget's languages: shipped tables chosen from the snippet, the page or the browser,
the admins' own wording edited in the console, and a right-to-left language laid out right
to left."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from confide.chat import widget_settings
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import sign_in
from tests.browser.test_widget import _log

ARABIC = {
    "write": "اكتب رسالة",
    "send": "أرسل الرسالة",
    "endChat": "إنهاء المحادثة",
    "closeWindow": "أغلق نافذة المحادثة",
    "messages": "الرسائل",
}


def _host(site: Site, html_lang: str | None, data_lang: str | None = None) -> str:
    lang = f' lang="{html_lang}"' if html_lang else ""
    data = f' data-lang="{data_lang}"' if data_lang else ""
    return (
        f"<!doctype html><html{lang}><title>Shop</title><h1>Shop</h1>"
        f'<script src="{site.url}/widget.js" data-workspace="{site.workspace}"{data} async>'
        "</script></html>"
    )


async def _launch(page: Page) -> None:
    await page.locator("#confide-widget .launcher").click()
    await expect(page.get_by_role("dialog")).to_be_visible()


async def test_the_language_follows_the_snippet_then_the_page_then_the_browser(
    site: Site, new_page: NewPage
) -> None:
    german = await new_page(locale="en-US")
    await german.goto(f"{site.url}/demo/{site.workspace}?lang=de")
    await _launch(german)
    await expect(german.get_by_role("textbox", name="Nachricht schreiben")).to_be_visible()
    await expect(german.get_by_role("button", name="Chatfenster schließen")).to_be_visible()

    snippet_wins = await new_page(locale="en-US")
    await snippet_wins.set_content(_host(site, "de", "fr"))
    await _launch(snippet_wins)
    await expect(snippet_wins.get_by_role("textbox", name="Écrire un message")).to_be_visible()

    browser_only = await new_page(locale="it-IT")
    await browser_only.set_content(_host(site, None))
    await _launch(browser_only)
    await expect(browser_only.get_by_role("textbox", name="Scrivi un messaggio")).to_be_visible()

    unknown = await new_page(locale="sv-SE")  # not shipped: English
    await unknown.set_content(_host(site, "sv"))
    await _launch(unknown)
    await expect(unknown.get_by_role("textbox", name="Write a message")).to_be_visible()


async def test_admins_edit_the_wording_and_add_a_right_to_left_language(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    console = await new_page()
    await sign_in(console, site, site.admin)
    await console.goto(f"{site.url}/console/settings/widget?lang=nl")
    await console.get_by_label("endChat", exact=True).fill("Gesprek stoppen")
    await console.get_by_label("typing", exact=True).fill(
        "{0} tikt"
    )  # keeps the placeholder: accepted
    await console.get_by_label("outOf5", exact=True).fill(
        "vijf"
    )  # drops {0}: refused, nothing stored
    await console.get_by_role("button", name="Save the nl wording").click()
    await expect(console.locator("[id='err-strings.nl.outOf5']")).to_be_visible()
    assert (await widget_settings.read(site.rt, site.workspace_id))["strings"] == {}
    await console.get_by_label("outOf5", exact=True).fill("")
    await console.get_by_role("button", name="Save the nl wording").click()
    await expect(console.get_by_label("endChat", exact=True)).to_have_value("Gesprek stoppen")

    await console.goto(f"{site.url}/console/settings/widget?lang=ar")
    for key, text in ARABIC.items():
        await console.get_by_label(key, exact=True).fill(text)
    await console.get_by_role("button", name="Save the ar wording").click()
    await expect(console.get_by_label("write", exact=True)).to_have_value(ARABIC["write"])
    stored = (await widget_settings.read(site.rt, site.workspace_id))["strings"]
    assert stored["nl"] == {"endChat": "Gesprek stoppen", "typing": "{0} tikt"}
    assert stored["ar"] == ARABIC

    dutch = await new_page()
    await dutch.goto(f"{site.url}/demo/{site.workspace}?lang=nl")
    await _launch(dutch)
    await dutch.get_by_role("textbox", name="Schrijf een bericht").fill("Hallo")
    await dutch.keyboard.press("Enter")
    await expect(dutch.get_by_role("button", name="Gesprek stoppen")).to_be_visible()

    page = await new_page(390, 844, is_mobile=True, has_touch=True)
    await page.goto(f"{site.url}/demo/{site.workspace}?lang=ar")
    await _launch(page)
    box = page.get_by_role("textbox", name=ARABIC["write"])
    await box.fill("مرحبا، هل المصباح متوفر؟")
    await box.press("Enter")
    mine = page.get_by_role("log", name=ARABIC["messages"]).locator(".msg.me:not(.pending)")
    await expect(mine).to_have_count(1)
    root_dir = await page.evaluate(
        "document.getElementById('confide-widget').shadowRoot.querySelector('.root').dir"
    )
    assert root_dir == "rtl"
    send = await page.get_by_role("button", name=ARABIC["send"]).bounding_box()
    typed = await box.bounding_box()
    sent = await mine.bounding_box()
    greeting = await page.locator("#confide-widget .msg.greeting").bounding_box()
    assert send and typed and sent and greeting
    assert send["x"] < typed["x"]  # the send button sits on the left, where the line ends
    assert sent["x"] < greeting["x"]  # own messages on the left, the team's on the right
    await screenshot(page, "widget-rtl-mobile")
    await expect(_log(page)).to_have_count(0)  # the log is named in Arabic, not "Messages"


async def test_the_consent_text_comes_in_the_visitors_language_and_is_recorded_as_shown(
    site: Site, new_page: NewPage
) -> None:
    from sqlalchemy import select

    from confide.privacy.models import ConsentRecord
    from tests.browser.test_widget import _api

    german = "Wir bewahren diesen Chat ein Jahr auf, um Ihnen zu antworten. Einverstanden?"
    await _api(
        site,
        "PUT",
        "/consent/requests/chat",
        json={"version": "1", "text": "We keep this chat. OK?"},
    )
    await _api(
        site,
        "PUT",
        "/consent/requests/chat",
        json={"version": "1-de", "language": "de", "text": german},
    )
    await _api(site, "PATCH", "/workspace", json={"consent_required": True})
    page = await new_page()
    await page.goto(f"{site.url}/demo/{site.workspace}?lang=de")
    await _launch(page)
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text(german)).to_be_visible()
    await dialog.get_by_role("button", name="Zustimmen und chatten").click()
    await expect(page.get_by_role("textbox", name="Nachricht schreiben")).to_be_visible()
    async with site.rt.db.session() as session:
        versions = (await session.scalars(select(ConsentRecord.version))).all()
    assert list(versions) == ["1-de"]
    await page.get_by_role("textbox", name="Nachricht schreiben").fill("Hallo")
    await page.keyboard.press("Enter")
    await expect(
        page.get_by_role("log", name="Nachrichten").locator(".msg.me:not(.pending)")
    ).to_have_count(1)
