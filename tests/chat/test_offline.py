"""Opening hours, the away facts the widget shows, and answers by e-mail (real SMTP on
loopback) with the signed link that reopens the chat."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.hours import check_hours, opening_state
from confide.chat.models import GroupHours
from confide.core import clock
from confide.core.config import Settings
from confide.core.errors import ValidationFailed
from confide.jobs.worker import Worker
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.jobs.helpers import jobs_of
from tests.mailbox import MailBox, mailbox_fixture  # noqa: F401 (fixture)
from tests.privacy.helpers import publish

EMAIL_TEXT = "May we answer you by e-mail at the address you give? We use it for this answer only."
ANSWER = "We checked: your order ships on Monday."
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return settings.with_overrides(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        smtp_security="none",
        mail_from="Acme <help@example.org>",
        public_url="https://chat.example.org",
    )


def _hours(**kw: object) -> GroupHours:
    values: dict[str, object] = {
        "time_zone": "Europe/Berlin",
        "weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": ["2026-12-25"],
        "expected_reply_minutes": 240,
        **kw,
    }
    return GroupHours(group_id=uuid.uuid4(), workspace_id=uuid.uuid4(), **values)


def test_opening_state_follows_local_hours_holidays_and_the_weekend() -> None:
    hours = _hours()
    thursday_noon = datetime(2026, 12, 24, 12, 0, tzinfo=BERLIN)
    assert opening_state(hours, thursday_noon) == (True, None)
    # Thursday evening -> Friday is Christmas (holiday) -> the weekend -> Monday 09:00 Berlin.
    evening = datetime(2026, 12, 24, 18, 0, tzinfo=BERLIN)
    assert opening_state(hours, evening) == (
        False, datetime(2026, 12, 28, 9, 0, tzinfo=BERLIN).astimezone(UTC)
    )  # fmt: skip
    # Summer time: 09:00 in Berlin is 07:00 UTC.
    sunday = datetime(2026, 7, 5, 10, 0, tzinfo=BERLIN)
    assert opening_state(hours, sunday) == (False, datetime(2026, 7, 6, 7, 0, tzinfo=UTC))
    assert opening_state(None, evening) == (True, None)  # no hours: always open
    assert opening_state(_hours(weekly={}), evening) == (False, None)  # never opens


@pytest.mark.parametrize(
    ("zone", "weekly", "holidays", "field"),
    [
        ("Mars/Olympus", {}, [], "time_zone"),
        ("Europe/Berlin", {"monday": []}, [], "weekly.monday"),
        ("Europe/Berlin", {"mon": [["17:00", "09:00"]]}, [], "weekly.mon.0"),
        ("Europe/Berlin", {"tue": [["9", "17:00"]]}, [], "weekly.tue.0"),
        ("Europe/Berlin", {}, ["2026-02-30"], "holidays.0"),
    ],
)
def test_bad_hours_name_the_field(zone: str, weekly: dict, holidays: list, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationFailed) as caught:
        check_hours(zone, weekly, holidays, None)
    assert caught.value.field == field


async def _admin(world: World) -> dict[str, str]:
    return await world.headers(await world.operator("ada", Role.ADMIN))


async def test_the_widget_config_says_when_the_group_opens_again(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await _admin(world)
    group = await world.group("Support")
    today = datetime.now(BERLIN).date()
    every_day = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    response = await client.put(
        f"/api/v1/groups/{group}/hours",
        json={"time_zone": "Europe/Berlin", "weekly": every_day,
              "holidays": [today.isoformat()], "expected_reply_minutes": 120},
        headers=admin,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    availability = (await client.get("/api/v1/widget/acme/config")).json()["availability"]
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), BERLIN)
    assert availability == {
        "open": False,
        "agents_available": False,
        "next_opening": tomorrow.astimezone(UTC).isoformat(),
        "expected_reply_minutes": 120,
    }
    bad = await client.put(
        f"/api/v1/groups/{group}/hours",
        json={"time_zone": "Europe/Berlin", "weekly": {"mon": [["10:00", "09:00"]]}},
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "weekly.mon.0"
    assert (await client.get(f"/api/v1/groups/{group}/hours", headers=admin)).json()["hours"][
        "holidays"
    ] == [today.isoformat()]  # the refused change left the hours as they were
    cleared = await client.delete(f"/api/v1/groups/{group}/hours", headers=admin)
    assert cleared.json() == {"hours": None}
    availability = (await client.get("/api/v1/widget/acme/config")).json()["availability"]
    assert availability["open"] is True and availability["next_opening"] is None


async def _grant_email(client: httpx.AsyncClient, headers: dict[str, str], req: dict) -> None:  # type: ignore[type-arg]
    response = await client.post(
        "/api/v1/widget/consent",
        json={"purpose": "email", "version": req["version"], "text_hash": req["text_hash"],
              "decision": "granted"},
        headers=headers,
    )  # fmt: skip
    assert response.status_code == 201, response.text


async def _answer(client: httpx.AsyncClient, headers: dict[str, str], conversation: str) -> None:
    response = await client.post(
        f"/api/v1/conversations/{conversation}/messages",
        json={"client_id": uuid.uuid4().hex, "body": ANSWER},
        headers=headers,
    )
    assert response.status_code == 201, response.text


@pytest.mark.smtp
async def test_an_answer_is_emailed_only_with_the_email_consent_and_its_link_reopens_the_chat(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
) -> None:
    admin = await _admin(world)
    await world.group("Support")
    req = await publish(client, admin, "email", EMAIL_TEXT)
    config = (await client.get("/api/v1/widget/acme/config")).json()
    assert config["email_replies"] is True

    # A visitor who did not ask: the answer is not queued, and nothing is sent.
    silent = await new_visitor(client)
    silent_chat = (await start_chat(client, silent, "Anyone there?"))["conversation"]["id"]
    await _answer(client, admin, silent_chat)
    assert await jobs_of(rt, "send_reply_email") == []

    # A visitor who leaves an address with the consent: the answer goes out by e-mail.
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Anyone there? Where is my order?"))["conversation"]
    await _grant_email(client, visitor.headers, req)
    identified = await client.post(
        "/api/v1/widget/identify", json={"email": "vera@example.org"}, headers=visitor.headers
    )
    assert identified.status_code == 200
    await _answer(client, admin, chat["id"])
    await Worker(rt).run(once=True)
    assert len(mailbox.messages) == 1
    mail = mailbox.messages[0]
    assert mailbox.recipients[0] == ["vera@example.org"]
    assert mail["Subject"] == "Acme answered your message"
    assert mail["From"] == "Acme <help@example.org>"
    text = mailbox.body(0)
    assert ANSWER in text
    link = re.search(r"https://chat\.example\.org/chat/acme#confide-reopen=(\S+)", text)
    assert link is not None, text
    token = link.group(1)
    async with rt.db.session() as session:  # reading the address and text is audited
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "conversation.answer_emailed" in actions

    # The link trades for a visitor token that reads that conversation.
    reopened = await client.post("/api/v1/widget/acme/reopen", json={"token": token})
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["conversation_id"] == chat["id"]
    assert reopened.json()["vuid"] == visitor.vuid
    headers = {"Authorization": f"Bearer {reopened.json()['token']}"}
    messages = await client.get(
        f"/api/v1/widget/conversations/{chat['id']}/messages", headers=headers
    )
    assert [m["body"] for m in messages.json()["messages"]][-1] == ANSWER

    # Altered, other workspace's, or expired links do not.
    altered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for slug, candidate in (("acme", altered), ("other", token)):
        if slug == "other":
            await world.workspace("other")
        refused = await client.post(f"/api/v1/widget/{slug}/reopen", json={"token": candidate})
        assert refused.status_code == 401, refused.text
    clock.advance(rt.settings.reopen_link_ttl_seconds + 60)
    expired = await client.post("/api/v1/widget/acme/reopen", json={"token": token})
    assert expired.status_code == 401
    clock.reset()

    # Withdrawn: the next answer is not sent.
    withdrawn = await client.post(
        "/api/v1/widget/consent",
        json={"purpose": "email", "version": req["version"], "text_hash": req["text_hash"],
              "decision": "withdrawn"},
        headers=visitor.headers,
    )  # fmt: skip
    assert withdrawn.status_code == 201
    await _answer(client, admin, chat["id"])
    await Worker(rt).run(once=True)
    assert len(mailbox.messages) == 1
    assert len(await jobs_of(rt, "send_reply_email")) == 1


@pytest.mark.smtp
async def test_every_answer_is_queued_for_email_not_only_the_first(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    # The second answer goes to an open chat the agent already answered: on SQLite the batched
    # lane (confide.chat.batched_send) must hand it to the path that queues the e-mail.
    admin = await _admin(world)
    await world.group("Support")
    req = await publish(client, admin, "email", EMAIL_TEXT)
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Where is my order?"))["conversation"]["id"]
    await _grant_email(client, visitor.headers, req)
    identified = await client.post(
        "/api/v1/widget/identify", json={"email": "vera@example.org"}, headers=visitor.headers
    )
    assert identified.status_code == 200
    await _answer(client, admin, chat)  # takes the chat
    await _answer(client, admin, chat)
    assert len(await jobs_of(rt, "send_reply_email")) == 2
