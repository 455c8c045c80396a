"""The workspace's admins are mailed, through a real SMTP server on loopback, when support
access is granted, revoked or expires and when an archived conversation is opened."""

from __future__ import annotations

import httpx
import pytest

from confide.access.support_access import do_record_grant_expiries
from confide.core import clock
from confide.core.config import Settings
from tests.access.custody_helpers import HOUR_SECONDS, grant, make_team, set_state
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)

pytestmark = pytest.mark.smtp


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


async def test_admins_are_mailed_for_every_grant_event(
    world: World,
    client: httpx.AsyncClient,
    mailbox: MailBox,
) -> None:
    box = mailbox
    team = await make_team(world)
    admin = await world.headers(team["ada"])
    made = await grant(client, admin, scope="settings", hours=1, reason="Ticket 31337")
    [granted] = await box.wait_for(1)
    assert box.recipients == [["ada.admin@example.test"]]
    assert granted["Subject"] == "Confide: support access granted"
    body = granted.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "sam" in body and "Ticket 31337" in body

    await client.post(f"/api/v1/access-grants/{made['id']}/revoke", headers=admin)
    mails = await box.wait_for(2)
    assert mails[1]["Subject"] == "Confide: access revoked"

    await grant(client, admin, scope="settings", hours=1)
    await box.wait_for(3)
    clock.advance(HOUR_SECONDS + 1)
    assert await do_record_grant_expiries(world.rt) == 1
    mails = await box.wait_for(4)
    assert mails[3]["Subject"] == "Confide: access expired"

    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "old", group_id=team["group"])
    conversation_id = chat["conversation"]["id"]
    await set_state(world.rt, conversation_id, lifecycle="archived")
    admin = await world.headers(team["ada"])
    await client.put(
        f"/api/v1/operators/{team['ada'].id}/archive-custodian",
        json={"archive_custodian": True},
        headers=admin,
    )
    opened = await client.post(
        f"/api/v1/archive/conversations/{conversation_id}/open",
        json={"reason": "legal-requisition", "reference": "REQ-7"},
        headers=admin,
    )
    assert opened.status_code == 201
    mails = await box.wait_for(5)
    assert mails[4]["Subject"] == "Confide: an archived conversation was opened"
    assert "REQ-7" in mails[4].get_body(("plain",)).get_content()  # type: ignore[union-attr]
