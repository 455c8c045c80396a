"""Accountability in the console: controller details, subprocessors, the record of processing
as PDF, and the breach register with its deadlines and the people an actor read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from confide.core import clock
from confide.core.config import Settings
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(
        deployment_region="DE",
        processor_name="Example Hosting GmbH",
        processor_contact="ops@x.test",
    )


async def test_an_admin_completes_the_record_of_processing_and_downloads_it(
    site: Site, new_page: NewPage, screenshot: Any, tmp_path: Path
) -> None:
    page = await new_page(width=1280, height=1000)
    await sign_in(page, site, site.admin)
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    await page.goto(f"{site.url}/console/settings/accountability")
    await expect(page.locator("#record-missing")).to_contain_text(
        "the controller's name and contact"
    )

    await page.get_by_label("Controller (organisation)").fill("Acme Ltd")
    await page.get_by_label("Contact (address, e-mail)").fill("privacy@acme.example")
    await page.get_by_label("Supervisory authority", exact=True).fill("Example DPA")
    await page.get_by_role("button", name="Save controller details").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.locator("#record-missing")).to_have_count(0)  # every field is filled

    # Outside the EEA without a safeguard: refused, the country box says why.
    await page.get_by_label("Name", exact=True).fill("Example SMS Inc.")
    await page.get_by_label("Service", exact=True).fill("SMS delivery")
    await page.get_by_label("Country (two letters, e.g. DE, US)").fill("US")
    await page.get_by_role("button", name="Add subprocessor").click()
    await expect(page.locator("#err-sub-country")).to_contain_text("outside the EEA")
    await page.get_by_label("Safeguard outside the EEA").select_option("scc")
    await page.get_by_label("Date the SCCs were signed").fill("2025-03-01")
    await page.get_by_role("button", name="Add subprocessor").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_role("cell", name="SCCs of 2025-03-01")).to_be_visible()

    transfers = page.locator("details", has_text="Art. 30(1)(e)")
    await transfers.locator("summary").click()
    await expect(transfers).to_contain_text("Example SMS Inc. (US)")
    await screenshot(page, "console-accountability")

    async with page.expect_download() as info:
        await page.locator("a[href='/api/v1/records/processing?format=pdf']").click()
    download = await info.value
    target = tmp_path / "record.pdf"
    await download.save_as(target)
    assert target.read_bytes().startswith(b"%PDF-")


async def test_an_admin_records_a_breach_and_meets_its_deadline(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    page = await new_page(width=1280, height=1100)
    await sign_in(page, site, site.admin)
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    await page.goto(f"{site.url}/console/settings/breaches")
    await expect(page.get_by_text("No breaches recorded.")).to_be_visible()

    now = clock.utcnow().strftime("%Y-%m-%dT%H:%M")
    await page.get_by_label("Short name").fill("Shared screen recording")
    await page.get_by_label("What happened").fill("A screen recording showed the inbox.")
    await page.get_by_label("Detected at (UTC)").fill(now)
    await page.get_by_label("Categories of data (comma-separated)").fill("visitor names")
    await page.get_by_label("Categories of people (comma-separated)").fill("website visitors")
    await page.get_by_label("Approximate number of people").fill("5")
    await page.get_by_label("Approximate number of records").fill("5")
    await page.get_by_label("Likely consequences").fill("Names seen by a webinar audience.")
    await page.get_by_label("Measures taken or proposed").fill("Recording deleted.")
    await page.get_by_role("button", name="Record the breach").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    authority = page.locator(".deadline[data-audience='authority']")
    await expect(authority).to_have_text("open")

    await page.get_by_label("How and when (case number, letters sent ...)").fill("Portal case 77")
    await page.get_by_role("button", name="Record the notification").click()
    await expect(authority).to_contain_text("met")

    await page.get_by_text("Who was exposed? From the audit ledger").click()
    await page.get_by_label("Operator or API key id").fill(str(site.admin.id))
    await page.get_by_label("From (UTC)").fill("2020-01-01T00:00")
    await page.get_by_label("Until (UTC)").fill("2099-01-01T00:00")
    await page.get_by_role("button", name="List the people").click()
    await expect(page.locator("#exposure-count")).to_contain_text("data subject(s)")
    await screenshot(page, "console-breaches", full_page=True)
