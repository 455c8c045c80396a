"""The admin who turns redaction on sees its measured accuracy for the settings they saved."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from confide.privacy.redaction import RedactionPolicy
from confide.privacy.redaction_accuracy import measure
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import sign_in


async def test_privacy_page_shows_precision_and_recall_of_the_saved_redaction(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=1280, height=1400)
    await sign_in(page, site, site.admin)
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("link", name="Privacy").click()
    await page.get_by_label("Phone numbers").check()
    await page.get_by_label("E-mail addresses").check()
    await page.get_by_label("Phone regions served", exact=False).fill("GB FR")
    await page.get_by_role("button", name="Save privacy settings").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    table = page.get_by_role("table")
    expected = measure(RedactionPolicy(phones=True, emails=True, phone_regions=("GB", "FR")))
    for kind, score in expected.items():
        row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=kind))
        await expect(row).to_contain_text(f"{score.precision:.2f}")
        await expect(row).to_contain_text(f"{score.recall:.2f}")
    await expect(table).to_contain_text("must not be masked")
    await table.scroll_into_view_if_needed()
    await screenshot(page, "settings-redaction", full_page=True)
