"""Passwords in a real browser: change it on the Account page (other sessions end), ask for a
reset link by mail (a real SMTP server on loopback) and choose a new password from it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from playwright.async_api import expect

from confide.core.config import Settings
from tests.browser.conftest import NewPage, Site
from tests.browser.test_console import TIMEOUT_MS, sign_in
from tests.mailbox import MailBox, mailbox_fixture, reset_token, with_smtp  # noqa: F401

pytestmark = pytest.mark.smtp
NEW_PASSWORD = "a brand new passphrase 42"


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox).with_overrides(lockout_threshold=5)


async def test_change_password_on_the_account_page_ends_other_sessions(
    site: Site, new_page: NewPage, screenshot: Any
) -> None:
    other = await new_page()
    await sign_in(other, site, site.agent)
    await expect(other.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)
    page = await new_page(width=1100, height=900)
    await sign_in(page, site, site.agent)
    await page.get_by_role("link", name="Account").click()
    await page.get_by_label("Current password").fill("not my password at all")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await expect(page.locator("#err-current_password")).to_have_text(
        "The current password is not correct."
    )
    await page.get_by_label("Current password").fill(site.agent.password)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Password changed. Your other sessions were signed out."
    )
    await screenshot(page, "console-account-password")
    # The other browser is signed out on its next page; this one stays signed in.
    await other.reload()
    await expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert (await site.world.login(replace(site.agent, password=NEW_PASSWORD))).status_code == 200


async def test_reset_by_mail_from_the_sign_in_page(
    site: Site,
    new_page: NewPage,
    mailbox: MailBox,
    screenshot: Any,
) -> None:
    box = mailbox
    await site.world.client.patch(
        "/api/v1/me",
        json={"email": "alex@example.test"},
        headers=await site.world.headers(site.agent),
    )
    page = await new_page()
    await page.goto(f"{site.url}/console/login")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Workspace").fill(site.workspace)
    await page.get_by_label("E-mail address").fill("alex@example.test")
    await page.get_by_role("button", name="Send the link").click()
    await expect(page.get_by_role("status")).to_contain_text("a reset link is on its way")
    [mail] = await box.wait_for(1)
    link = f"{site.url}/console/password/reset#token={reset_token(mail)}"

    await page.goto(link)
    await expect(
        page.get_by_label("Reset code (the part after #token= in the link)")
    ).to_be_hidden()
    assert "#token" not in page.url  # dropped from the address bar and the history
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password again").fill(NEW_PASSWORD)
    await screenshot(page, "console-password-reset")
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Your password was changed. Sign in with the new one."
    )
    await sign_in(page, site, replace(site.agent, password=NEW_PASSWORD))
    await expect(page.get_by_role("heading", name="Inbox")).to_be_visible(timeout=TIMEOUT_MS)

    # The link works once.
    await page.goto(link)
    await page.get_by_label("New password", exact=True).fill("yet another passphrase 7")
    await page.get_by_label("New password again").fill("yet another passphrase 7")
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page.get_by_role("alert")).to_contain_text("does not work any more")
