"""Audit inside the action: a change and its record commit together, a read is recorded
before it returns, a list names every subject it returned, and a read or change whose
record cannot be appended returns nothing and changes nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from confide.access.models import Role
from confide.audit import ledger
from confide.audit.models import AuditEvent, AuditEventSubject
from confide.chat.models import Conversation, ConversationStatus, Visitor
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


async def _events(rt: Runtime, action: str) -> list[AuditEvent]:
    async with rt.db.session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list((await session.scalars(query)).all())


async def _subject_of(rt: Runtime, conversation_id: str) -> object:
    async with rt.db.session() as session:
        return await session.scalar(
            select(Visitor.subject_id)
            .join(Conversation, Conversation.visitor_id == Visitor.id)
            .where(Conversation.id == uuid.UUID(conversation_id))
        )


@pytest.fixture
async def admin_headers(world: World) -> dict[str, str]:
    await world.group("Support")
    return await world.headers(await world.operator("ada", Role.ADMIN))


async def test_closing_a_conversation_is_recorded_naming_the_visitor(
    rt: Runtime, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    chat = (await start_chat(client, await new_visitor(client)))["conversation"]
    response = await client.post(f"/api/v1/conversations/{chat['id']}/close", headers=admin_headers)
    assert response.status_code == 200
    [event] = await _events(rt, "conversation.close")
    assert event.resource == f"conversation:{chat['id']}"
    assert event.subject_id == await _subject_of(rt, chat["id"])


async def test_a_list_read_names_every_visitor_it_returned(
    rt: Runtime, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    chats = [(await start_chat(client, await new_visitor(client)))["conversation"] for _ in "ab"]
    response = await client.get("/api/v1/conversations", headers=admin_headers)
    assert response.status_code == 200
    assert len(response.json()["conversations"]) == 2
    [event] = await _events(rt, "conversation.list")
    expected = sorted([str(await _subject_of(rt, c["id"])) for c in chats])
    assert event.subject_ids is not None and event.subject_ids.split() == expected
    async with rt.db.session() as session:
        indexed = (
            await session.scalars(
                select(AuditEventSubject.subject_id).where(AuditEventSubject.event_id == event.id)
            )
        ).all()
    assert sorted(str(s) for s in indexed) == expected


async def test_a_read_whose_record_cannot_be_appended_returns_nothing(
    rt: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = (await start_chat(client, await new_visitor(client), "my secret question"))[
        "conversation"
    ]

    async def unavailable(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ledger, "_lock_head", unavailable)
    for path in (f"/conversations/{chat['id']}/messages", f"/conversations/{chat['id']}"):
        response = await client.get(f"/api/v1{path}", headers=admin_headers)
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "audit_unavailable"
        assert "my secret question" not in response.text


async def test_a_change_whose_record_cannot_be_appended_is_rolled_back(
    rt: Runtime,
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = (await start_chat(client, await new_visitor(client)))["conversation"]

    async def unavailable(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ledger, "_lock_head", unavailable)
    response = await client.post(f"/api/v1/conversations/{chat['id']}/close", headers=admin_headers)
    assert response.status_code == 503
    async with rt.db.session() as session:
        conversation = await session.get(Conversation, uuid.UUID(chat["id"]))
    assert conversation is not None and conversation.status is not ConversationStatus.CLOSED
    monkeypatch.undo()
    assert await _events(rt, "conversation.close") == []
