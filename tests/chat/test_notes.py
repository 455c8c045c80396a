"""Internal notes: operators only, sealed, audited, never reaching the visitor, and shredded
with the visitor's conversation keys on erasure."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from confide.chat.models import Conversation, ConversationNote, SearchTerm
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World

NOTE = "Customer is upset about order 1042; offer a voucher."


async def test_a_note_is_for_operators_only_sealed_and_audited(world: World) -> None:
    group = await world.group("Support")
    agent = await world.operator("ada", Role.AGENT, groups=[group])
    other = await world.operator("bob", Role.AGENT)  # not in the group: cannot see the chat
    headers = await world.headers(agent)
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi", group_id=group))[
        "conversation"
    ]["id"]
    path = f"/api/v1/conversations/{conversation_id}/notes"

    added = await world.client.post(path, json={"body": NOTE}, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["body"] == NOTE
    listed = (await world.client.get(path, headers=headers)).json()["notes"]
    assert [n["body"] for n in listed] == [NOTE]
    # Nobody else: another agent, the visitor's token, the visitor's own routes.
    assert (await world.client.get(path, headers=await world.headers(other))).status_code == 404
    assert (await world.client.get(path, headers=visitor.headers)).status_code == 401
    widget = await world.client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=visitor.headers
    )
    assert NOTE not in widget.text and "voucher" not in widget.text
    # Stored sealed, and every add and read is audited against the visitor's subject.
    async with world.rt.db.session() as session:
        sealed = (await session.scalars(select(ConversationNote.body_sealed))).all()
        actions = (
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("conversation.note%"))
            )
        ).all()
    assert len(sealed) == 1 and "voucher" not in sealed[0]
    assert sorted(actions) == ["conversation.note_added", "conversation.notes_read"]
    empty = await world.client.post(path, json={"body": "   "}, headers=headers)
    assert empty.status_code == 422 and empty.json()["error"]["field"] == "body"
    # The workspace's redaction masks a note as it masks a message: the card is not stored.
    card = await world.client.post(
        path, json={"body": "VIP, card 4111 1111 1111 1111 on file"}, headers=headers
    )
    assert card.json()["body"] == "VIP, card [redacted card] on file"
    listed = (await world.client.get(path, headers=headers)).json()["notes"]
    assert "4111" not in str(listed) and "[redacted card]" in str(listed)


async def test_erasing_the_visitor_makes_their_notes_unreadable(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    headers = await world.headers(admin)
    visitor = await new_visitor(world.client)
    conversation_id = (await start_chat(world.client, visitor, "Hi"))["conversation"]["id"]
    path = f"/api/v1/conversations/{conversation_id}/notes"
    assert (await world.client.post(path, json={"body": NOTE}, headers=headers)).status_code == 201
    before = await world.client.get("/api/v1/search", params={"q": "hi"}, headers=headers)
    assert [c["id"] for c in before.json()["conversations"]] == [conversation_id]
    async with world.rt.db.session() as session:
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
        assert conversation is not None
    erased = await world.client.post(
        f"/api/v1/visitors/{conversation.visitor_id}/erase", headers=headers
    )
    assert erased.status_code == 200, erased.text
    # The conversation is gone with its notes (their key destroyed after commit).
    assert (await world.client.get(path, headers=headers)).status_code == 404
    async with world.rt.db.session() as session:
        assert (await session.scalars(select(ConversationNote))).all() == []
    # The word index forgot the conversation too: its words find nothing any more.
    found = await world.client.get("/api/v1/search", params={"q": "hi"}, headers=headers)
    assert found.json()["conversations"] == []
    async with world.rt.db.session() as session:
        assert (await session.scalars(select(SearchTerm))).all() == []
