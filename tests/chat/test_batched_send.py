"""The batched lane of the message path (confide.chat.batched_send, SQLite): an operator's
reply to an open chat is stored in a write program like a visitor's message, with the same
checks and outcome as the full path: the agent's public card on the event, a visitor's
withdrawal of consent refusing the next reply (409), nothing stored for a refused one. On
PostgreSQL the same lane writes each message in one statement, with the same outcomes."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text

from confide.chat.models import AuthorKind, Message
from confide.runtime import Runtime
from tests.chat.helpers import VisitorClient
from tests.conftest import World
from tests.privacy.helpers import consented_chat, decide

CHAT_TEXT = "We keep this conversation to answer you. OK?"


async def _reply(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    conversation_id: str,
    body: str,
    client_id: str | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": client_id or uuid.uuid4().hex, "body": body},
        headers=headers,
    )


async def _visitor_says(
    client: httpx.AsyncClient,
    visitor: VisitorClient,
    conversation_id: str,
    client_id: str,
    body: str,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": client_id, "body": body},
        headers=visitor.headers,
    )


async def _stored(rt: Runtime, conversation_id: str) -> list[tuple[int, AuthorKind]]:
    async with rt.db.session() as session:
        rows = await session.execute(
            select(Message.seq, Message.author_kind)
            .where(Message.conversation_id == uuid.UUID(conversation_id))
            .order_by(Message.seq)
        )
        return [(seq, kind) for seq, kind in rows]


async def _answered_chat(
    world: World, client: httpx.AsyncClient
) -> tuple[dict[str, str], VisitorClient, str, httpx.Response]:
    """A consented chat the admin has taken with a first answer (the full path): the admin's
    headers, the visitor, the conversation id and that first answer."""
    admin, visitor, conversation_id = await consented_chat(world, client, CHAT_TEXT)
    first = await _reply(client, admin, conversation_id, "Hi, how can I help?")
    assert first.status_code == 201, first.text  # takes the waiting chat (the full path)
    return admin, visitor, conversation_id, first


async def test_an_operators_reply_to_an_open_chat_is_batched_and_a_withdrawal_stops_the_next(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin, visitor, conversation_id, first = await _answered_chat(world, client)
    before = rt.db.batched.programs_committed if rt.db.batched is not None else 0
    second = await _reply(client, admin, conversation_id, "Your order ships on Monday.", "a-2")
    assert second.status_code == 201, second.text
    message = second.json()["message"]
    assert message["seq"] == 3 and message["body"] == "Your order ships on Monday."
    assert message["author"]["kind"] == "operator"
    assert message["author"]["id"] == first.json()["message"]["author"]["id"]
    if rt.db.batched is not None:  # stored by a write program, not the full path
        assert rt.db.batched.programs_committed == before + 1

    said = await _visitor_says(client, visitor, conversation_id, "v-4", "Thanks!")
    assert said.status_code == 201, said.text

    withdrawn = await decide(
        client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201, withdrawn.text
    refused = await _reply(client, admin, conversation_id, "Are you still there?")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "consent_withdrawn"
    visitor_kind, operator_kind = AuthorKind.VISITOR, AuthorKind.OPERATOR
    new_words = await _visitor_says(client, visitor, conversation_id, "v-5", "One more thing")
    assert new_words.status_code == 403, new_words.text
    assert new_words.json()["error"]["code"] == "consent_required"
    # A resend of a message stored before the withdrawal (its ack lost) is answered with it.
    again = await _visitor_says(client, visitor, conversation_id, "v-4", "Thanks!")
    assert again.status_code == 201, again.text
    assert again.json()["duplicate"] is True and again.json()["message"]["seq"] == 4
    resent = await _reply(client, admin, conversation_id, "Your order ships on Monday.", "a-2")
    assert resent.status_code == 201, resent.text
    assert resent.json()["duplicate"] is True
    assert resent.json()["message"]["id"] == message["id"]
    assert await _stored(rt, conversation_id) == [
        (1, visitor_kind),
        (2, operator_kind),
        (3, operator_kind),
        (4, visitor_kind),
    ]


@pytest.mark.postgres
async def test_on_postgresql_a_message_is_one_statement_and_fully_stored(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin, visitor, conversation_id, _first = await _answered_chat(world, client)

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        said = await _visitor_says(client, visitor, conversation_id, "v-3", "Where is parcel?")
        replied = await _reply(client, admin, conversation_id, "Your parcel left Lyon.")
    finally:
        event.remove(rt.db.engine.sync_engine, "before_cursor_execute", seen)
    assert said.status_code == 201 and replied.status_code == 201, (said.text, replied.text)
    assert (said.json()["message"]["seq"], replied.json()["message"]["seq"]) == (3, 4)

    # Each message: the claim, its search terms, its row and its sealed text in one statement;
    # nothing else of the send touched those tables.
    touching = [
        s
        for s in statements
        if re.search(r"\b(conversations|messages|message_texts|search_terms)\b", s)
    ]
    assert len(touching) == 2, touching
    assert all(s.startswith("WITH claim AS") and "INSERT INTO messages" in s for s in touching)

    assert await _stored(rt, conversation_id) == [
        (1, AuthorKind.VISITOR),
        (2, AuthorKind.OPERATOR),
        (3, AuthorKind.VISITOR),
        (4, AuthorKind.OPERATOR),
    ]
    transcript = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=admin
    )
    assert transcript.status_code == 200, transcript.text
    bodies = [m["body"] for m in transcript.json()["messages"]]
    assert bodies[2:] == ["Where is parcel?", "Your parcel left Lyon."]
    found = await client.get("/api/v1/search", params={"q": "Lyon"}, headers=admin)
    assert found.status_code == 200, found.text
    assert conversation_id in [c["id"] for c in found.json()["conversations"]]


@pytest.mark.postgres
async def test_on_postgresql_a_withdrawal_while_a_send_waits_for_the_row_lock_refuses_it(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    """The send's claim waits for the conversation's row lock (held here by another session,
    as by another sender); the visitor withdraws meanwhile. Once the lock is free the waiting
    visitor message is refused (403) and the agent's reply too (409): nothing is stored after
    the withdrawal was acknowledged (GDPR Art. 7(3)), however long the claim waited."""
    admin, visitor, conversation_id, _first = await _answered_chat(world, client)
    warm = await _visitor_says(client, visitor, conversation_id, "v-3", "One question")
    assert warm.status_code == 201, warm.text  # this node now holds the conversation's key

    async with rt.db.engine.connect() as holder:
        await holder.execute(
            text("SELECT 1 FROM conversations WHERE id = :id FOR NO KEY UPDATE"),
            {"id": uuid.UUID(conversation_id)},
        )
        said = asyncio.create_task(
            _visitor_says(client, visitor, conversation_id, "v-late", "Words after no")
        )
        replied = asyncio.create_task(_reply(client, admin, conversation_id, "A late reply"))
        waiting = 0
        for _ in range(500):  # until both sends wait for the lock
            async with rt.db.engine.connect() as probe:
                waiting = (
                    await probe.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        )
                    )
                ).scalar_one()
            if waiting >= 2:
                break
            await asyncio.sleep(0.02)
        assert waiting >= 2
        withdrawn = await decide(
            client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
        )
        assert withdrawn.status_code == 201, withdrawn.text
        await holder.rollback()

    late_visitor, late_reply = await said, await replied
    assert late_visitor.status_code == 403, late_visitor.text
    assert late_visitor.json()["error"]["code"] == "consent_required"
    assert late_reply.status_code == 409, late_reply.text
    assert late_reply.json()["error"]["code"] == "consent_withdrawn"
    assert [seq for seq, _kind in await _stored(rt, conversation_id)] == [1, 2, 3]
