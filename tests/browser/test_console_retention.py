"""Retention and reports in a real browser: an admin sets the simple months policy and reads
what happens next; the reports page draws its SVG charts from Confide alone (no request
leaves the origin, no script error: the site fixture checks both)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.async_api import expect

from confide.core import clock
from confide.privacy.retention.run import do_run_retention
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import (  # noqa: F401  (fixtures)
    TIMEOUT_MS,
    Visitor,
    sign_in,
    visitor,
)


async def test_admin_sets_retention_and_reads_the_reports(
    site: Site,
    new_page: NewPage,
    visitor: Visitor,  # noqa: F811
    screenshot: Any,
) -> None:
    conversation_id = await visitor.start("Where is my parcel?")
    closed = await visitor.http.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    assert closed.status_code == 200, closed.text
    page = await new_page(width=1280, height=900)
    await sign_in(page, site, site.admin)
    await page.goto(f"{site.url}/console/settings/retention")
    months = page.get_by_label("Months (1-36; 0 uses the periods per channel below)")
    await months.fill("12")
    await page.get_by_role("button", name="Save retention").click()
    next_steps = page.locator("#retention-next tbody tr")
    await expect(next_steps).to_have_count(5, timeout=TIMEOUT_MS)
    await expect(next_steps.first).to_contain_text("Kept 12 month(s), then destroyed")
    await expect(page.locator("#retention-next")).to_contain_text("It is destroyed")
    await screenshot(page, "console-retention", full_page=True)

    await do_run_retention(site.rt, as_of=clock.utcnow() + timedelta(days=1))
    reports = page.get_by_role("link", name="Reports")
    await reports.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="1 conversation")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    await expect(page.locator("svg#chart-per-day .chart-bar")).to_have_count(1)
    await expect(page.locator("#report-csv")).to_have_attribute("download", "")
    await screenshot(page, "console-reports", full_page=True)
