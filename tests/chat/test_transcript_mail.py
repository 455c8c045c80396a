"""A copy of the chat by e-mail, on the visitor's request only (real SMTP on loopback)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.models import Visitor
from confide.core.config import Settings
from confide.privacy.models import PersonalField
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture  # noqa: F401 (fixture)
from tests.privacy.helpers import set_privacy

pytestmark = pytest.mark.smtp


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return settings.with_overrides(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_security="none"
    )


async def test_the_visitor_gets_a_copy_of_the_ended_chat_and_only_on_request(
    world: World, client: httpx.AsyncClient, rt: Runtime, mailbox: MailBox
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN, alias="Ada"))
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Can I return the lamp?"))["conversation"]["id"]
    await client.post(
        f"/api/v1/conversations/{chat}/messages",
        json={"client_id": "reply-1", "body": "Yes, within 30 days.\nJust keep the box."},
        headers=admin,
    )
    url = f"/api/v1/widget/conversations/{chat}/transcript"
    still_open = await client.post(url, json={"email": "vera@example.org"}, headers=visitor.headers)
    assert still_open.status_code == 409
    assert mailbox.messages == []  # nothing is sent unasked or early

    await client.post(f"/api/v1/widget/conversations/{chat}/close", headers=visitor.headers)
    bad = await client.post(url, json={"email": "not an address"}, headers=visitor.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "email"
    stranger = await new_visitor(client)
    other = await client.post(url, json={"email": "x@example.org"}, headers=stranger.headers)
    assert other.status_code == 404

    sent = await client.post(url, json={"email": "vera@example.org"}, headers=visitor.headers)
    assert sent.status_code == 202, sent.text
    assert mailbox.recipients == [["vera@example.org"]]
    text = mailbox.body(0).replace("\r\n", "\n")
    assert "You:\n  Can I return the lamp?" in text
    assert "Ada:\n  Yes, within 30 days.\n  Just keep the box." in text
    assert mailbox.messages[0]["Subject"] == "Your chat with Acme"
    async with rt.db.session() as session:  # the address was used once and stored nowhere
        stored = await session.scalar(
            select(func.count())
            .select_from(PersonalField)
            .join(Visitor, Visitor.subject_id == PersonalField.subject_id)
            .where(Visitor.vuid == visitor.vuid)
        )
        assert stored == 0
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert "conversation.transcript_emailed" in actions

    for _ in range(2):
        assert (
            await client.post(url, json={"email": "vera@example.org"}, headers=visitor.headers)
        ).status_code == 202
    limited = await client.post(url, json={"email": "vera@example.org"}, headers=visitor.headers)
    assert limited.status_code == 429
    assert len(mailbox.messages) == 3


async def test_no_copy_when_the_workspace_keeps_no_transcripts(
    world: World, client: httpx.AsyncClient, mailbox: MailBox
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    await set_privacy(client, admin, store_transcripts=False)
    assert (await client.get("/api/v1/widget/acme/config")).json()["transcript_email"] is False
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Hello"))["conversation"]["id"]
    await client.post(f"/api/v1/widget/conversations/{chat}/close", headers=visitor.headers)
    refused = await client.post(
        f"/api/v1/widget/conversations/{chat}/transcript",
        json={"email": "vera@example.org"},
        headers=visitor.headers,
    )
    assert refused.status_code == 409
    assert mailbox.messages == []
