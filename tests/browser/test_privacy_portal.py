"""The privacy portal in a real browser under Confide's CSP: a person asks for a link (a real
SMTP server on loopback receives it), opens it, and files a request; the token leaves the
address bar, and the admin sees the request in the console."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from confide.core.config import Settings
from confide.jobs.worker import Worker
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)

pytestmark = pytest.mark.smtp


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox).with_overrides(lockout_threshold=5)


async def test_a_person_proves_an_address_and_files_a_request_on_the_portal(
    site: Site, new_page: NewPage, mailbox: MailBox, screenshot: Any
) -> None:
    page = await new_page(width=900, height=800)
    await page.goto(f"{site.url}/privacy/{site.workspace}")
    await expect(page.get_by_role("heading", name="Your data at Demo-Shop")).to_be_visible()
    await page.get_by_label("E-mail address").fill("petra@example.test")
    await page.get_by_role("button", name="Send me a link").click()
    await expect(page.get_by_role("status")).to_contain_text("a link is on its way")
    await screenshot(page, "privacy-portal-link-sent")

    await Worker(site.rt).run(once=True)  # the outbox job sends the link
    [mail] = await mailbox.wait_for(1)
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"/privacy/demo-shop#token=(\S+)", body.get_content())
    assert found
    await page.goto(f"{site.url}/privacy/{site.workspace}#token={found.group(1)}")
    await expect(page.get_by_role("status")).to_have_text(
        "Your address is verified. Choose your request."
    )
    assert "#token" not in page.url
    await page.get_by_label("What do you ask for?").select_option("objection")
    await page.get_by_label("Which use?").select_option("surveys")
    await screenshot(page, "privacy-portal-request")
    await page.get_by_role("button", name="File my request").click()
    await expect(page.get_by_role("status")).to_contain_text("Your request is filed")

    admin = await new_page(width=1100, height=800)
    await sign_in(admin, site, site.admin)
    await admin.get_by_role("link", name="Requests").click()
    await expect(admin.locator("#cases tbody tr")).to_have_count(1, timeout=TIMEOUT_MS)
    await expect(admin.locator("#cases")).to_contain_text("objection")
    await screenshot(admin, "console-requests")
