"""Nobody there: the widget's away notice with the next opening in the visitor's zone, leaving
an e-mail address under its own consent, the answer by e-mail (real SMTP on loopback), and its
link reopening the chat in the widget."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from confide.core.config import Settings
from confide.jobs.worker import Worker
from confide.privacy.models import ConsentRecord
from tests.browser.conftest import NewPage, Site
from tests.browser.test_widget import _api, _log, _open_demo, _send, _stored_conversation
from tests.mailbox import MailBox, mailbox_fixture  # noqa: F401 (fixture)

EMAIL_TEXT = "May we answer by e-mail? We use your address for this answer only."
ANSWER = "Thanks for waiting! The oak lamp is back in stock on Friday."
BERLIN = ZoneInfo("Europe/Berlin")
EVERY_DAY = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return settings.with_overrides(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_security="none"
    )


async def _closed_today(site: Site) -> datetime:
    """Hours for the default group that make today a holiday; returns the next opening."""
    group = await site.world.group("Support", slug=site.workspace)
    today = datetime.now(BERLIN).date()
    await _api(
        site,
        "PUT",
        f"/groups/{group}/hours",
        json={"time_zone": "Europe/Berlin", "weekly": EVERY_DAY, "holidays": [today.isoformat()]},
    )
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), BERLIN)


@pytest.mark.smtp
async def test_away_notice_leave_an_email_get_the_answer_by_mail_and_reopen_the_chat(
    site: Site,
    new_page: NewPage,
    mailbox: MailBox,
    screenshot: Any,
) -> None:
    opens = await _closed_today(site)
    await _api(site, "PUT", "/consent/requests/email", json={"version": "1", "text": EMAIL_TEXT})
    # A visitor in New York: the group's midnight in Berlin is the evening before there.
    page = await new_page(timezone_id="America/New_York", locale="en-GB")
    await _open_demo(page, site)
    away = page.get_by_role("dialog").locator("[data-confide=away]")
    await expect(away.get_by_role("heading", name="We are closed right now.")).to_be_visible()
    there = opens.astimezone(ZoneInfo("America/New_York"))
    await expect(away.locator(".next-opening")).to_contain_text(f"We open again {there:%A}")
    await expect(away.locator(".next-opening")).to_contain_text(there.strftime("%H:%M"))
    await expect(away.get_by_text(EMAIL_TEXT)).to_be_visible()
    await screenshot(page, "widget-away-desktop")

    email = away.get_by_role("textbox", name="Your e-mail for our answer")
    await email.fill("not-an-address")
    await away.get_by_role("button", name="Answer me by e-mail").click()
    await expect(page.get_by_role("alert")).to_have_text("Please enter a valid e-mail address.")
    await email.fill("vera@example.org")
    await away.get_by_role("button", name="Answer me by e-mail").click()
    await expect(away.get_by_text("We will answer at vera@example.org")).to_be_visible()
    async with site.rt.db.session() as session:
        records = (await session.scalars(select(ConsentRecord))).all()
    assert [(r.purpose, r.decision) for r in records] == [("email", "granted")]

    await _send(page, "Anyone there? Is the oak lamp coming back?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    conversation_id = await _stored_conversation(page, site)
    await _api(
        site,
        "POST",
        f"/conversations/{conversation_id}/messages",
        json={"client_id": uuid.uuid4().hex, "body": ANSWER},
    )
    await expect(_log(page).get_by_text(ANSWER)).to_be_visible()
    await expect(away).to_have_count(0)  # somebody answered: the away notice is gone
    await Worker(site.rt).run(once=True)
    for _ in range(100):
        if mailbox.messages:
            break
        await asyncio.sleep(0.05)
    assert len(mailbox.messages) == 1 and mailbox.recipients[0] == ["vera@example.org"]
    found = re.search(r"/chat/demo-shop#confide-reopen=(\S+)", mailbox.body(0))
    assert found is not None

    # Opened from the mail, on another device: the widget opens on the conversation.
    phone = await new_page(390, 844, is_mobile=True, has_touch=True)
    asked: list[str] = []
    phone.on("request", lambda r: asked.append(r.url))
    await phone.goto(f"{site.url}/chat/{site.workspace}#confide-reopen={found.group(1)}")
    await expect(_log(phone).get_by_text(ANSWER)).to_be_visible()
    await expect(
        _log(phone).get_by_text("Anyone there? Is the oak lamp coming back?")
    ).to_be_visible()
    assert "confide-reopen" not in phone.url  # the token does not stay in the address bar
    # The token rode in the fragment and in one POST body: never in a requested URL.
    assert asked and not [url for url in asked if found.group(1)[:40] in url]
    await screenshot(phone, "widget-reopened-mobile")
    await _send(phone, "Great, thank you!")
    await expect(_log(phone).locator(".msg.me:not(.pending)")).to_have_count(2)
    assert await _stored_conversation(phone, site) == conversation_id


async def test_nobody_available_shows_the_promised_reply_time(
    site: Site, new_page: NewPage
) -> None:
    group = await site.world.group("Support", slug=site.workspace)
    await _api(
        site,
        "PUT",
        f"/groups/{group}/hours",
        json={"time_zone": "UTC", "weekly": EVERY_DAY, "expected_reply_minutes": 30},
    )
    page = await new_page(390, 844, is_mobile=True, has_touch=True)
    await _open_demo(page, site)
    away = page.get_by_role("dialog").locator("[data-confide=away]")
    await expect(away.get_by_role("heading", name="Nobody is available right now")).to_be_visible()
    await expect(away.get_by_text("We usually reply within 30 minutes.")).to_be_visible()
    # No 'email' consent text published: no address is asked for.
    await expect(away.get_by_role("textbox")).to_have_count(0)


@pytest.mark.smtp
async def test_a_copy_of_the_ended_chat_by_email_on_request(
    site: Site, new_page: NewPage, mailbox: MailBox, screenshot: Any
) -> None:
    page = await new_page()
    await _open_demo(page, site)
    await _send(page, "Do you gift-wrap?")
    await expect(_log(page).locator(".msg.me:not(.pending)")).to_have_count(1)
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="End chat").click()
    await dialog.get_by_role("button", name="Yes, end the chat").click()
    await dialog.get_by_role("button", name="E-mail me a copy of this chat").click()
    await dialog.get_by_role("textbox", name="Your e-mail").fill("vera@example.org")
    await screenshot(page, "widget-transcript-desktop")
    assert mailbox.messages == []  # nothing until the visitor sends the request
    await dialog.get_by_role("button", name="Send the copy").click()
    await expect(dialog.get_by_text("A copy is on its way to vera@example.org.")).to_be_visible()
    assert mailbox.recipients == [["vera@example.org"]]
    assert "Do you gift-wrap?" in mailbox.body(0)
