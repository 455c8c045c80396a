"""Messages sent together share one write transaction on SQLite (group commit, and visitors'
messages as write programs in one trip: confide.chat.batched_send), yet each keeps its own
outcome: a duplicate client id, a withdrawn consent or a closed conversation fails (or
answers) that message alone, its batch-mates are stored with gap-free sequence numbers, and
no send returns (so no ack leaves) before the batch's COMMIT. On PostgreSQL each send is its
own transaction and the same outcomes hold."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from confide.access.policy import Principal
from confide.chat.messages import SendResult, do_send_message
from confide.chat.models import Conversation, Message
from confide.chat.visitors import authenticate_visitor_token
from confide.core import batched_writes
from confide.core.errors import Conflict, ConsentRequired
from confide.runtime import Runtime
from tests.chat.helpers import VisitorClient, new_visitor, start_chat
from tests.conftest import World
from tests.privacy.helpers import admin_headers, decide, publish, set_privacy

CHAT_TEXT = "We keep this conversation to answer you. OK?"


class Holder:
    """A unit of work that holds its turn in the open batch until released."""

    def __init__(self, rt: Runtime) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.task = asyncio.create_task(self._run(rt))

    async def _run(self, rt: Runtime) -> None:
        async with rt.db.transaction():
            self.entered.set()
            await self.release.wait()


def _joined(rt: Runtime) -> int:
    """Units in the open group-commit batch, plus write programs queued for the next batch."""
    assert rt.db.group_commit is not None
    batch = rt.db.group_commit._open
    queued = len(rt.db.batched._queue) if rt.db.batched is not None else 0
    return (batch.joined if batch is not None else 0) + queued


async def _until(condition: Any) -> None:
    for _ in range(100_000):  # turns of the event loop, not time
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the units never joined the batch")


async def _chat(client: httpx.AsyncClient, rt: Runtime) -> tuple[VisitorClient, Principal, str]:
    visitor = await new_visitor(client)
    assert (await decide(client, visitor, "chat", CHAT_TEXT)).status_code == 201
    chat = await start_chat(client, visitor, "Hello")
    return visitor, await authenticate_visitor_token(rt, visitor.token), chat["conversation"]["id"]


def _committed_seqs(rt: Runtime, conversation_id: str) -> list[int]:
    """What another connection to the SQLite file sees (committed rows only)."""
    path = rt.settings.resolved_database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute(
            "SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq",
            (uuid.UUID(conversation_id).hex,),
        )
        return [seq for (seq,) in rows]


async def _seqs(rt: Runtime, conversation_id: str) -> list[int]:
    async with rt.db.session() as session:
        rows = await session.scalars(
            select(Message.seq)
            .where(Message.conversation_id == uuid.UUID(conversation_id))
            .order_by(Message.seq)
        )
        return list(rows.all())


@pytest.fixture
async def chats(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> dict[str, tuple[VisitorClient, Principal, str]]:
    admin = await admin_headers(world)
    await publish(client, admin, "chat", CHAT_TEXT)
    await set_privacy(client, admin, consent_required=True)
    found = {name: await _chat(client, rt) for name in ("ok", "dup", "withdrawn", "closed")}
    visitor, _, conversation_id = found["withdrawn"]
    withdrawn = await decide(
        client, visitor, "chat", CHAT_TEXT, "withdrawn", conversation_id=conversation_id
    )
    assert withdrawn.status_code == 201, withdrawn.text
    visitor, _, conversation_id = found["closed"]
    closed = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    assert closed.status_code == 200, closed.text
    return found


async def test_one_failing_message_never_fails_its_batch_mates(
    rt: Runtime, chats: dict[str, tuple[VisitorClient, Principal, str]]
) -> None:
    _, ok, ok_id = chats["ok"]
    _, dup, dup_id = chats["dup"]
    _, withdrawn, withdrawn_id = chats["withdrawn"]
    _, closed, closed_id = chats["closed"]
    stored = await do_send_message(rt, dup, uuid.UUID(dup_id), client_id="again", body="First")

    def send(principal: Principal, conversation_id: str, client_id: str, body: str) -> Any:
        return asyncio.create_task(
            do_send_message(
                rt, principal, uuid.UUID(conversation_id), client_id=client_id, body=body
            )
        )

    grouped = rt.db.group_commit is not None
    if grouped:
        holder = Holder(rt)
        await holder.entered.wait()
    sends = [
        send(ok, ok_id, "a", "one"),
        send(dup, dup_id, "again", "First, sent again"),  # a retry of a stored message
        send(withdrawn, withdrawn_id, "w", "after withdrawing"),
        send(ok, ok_id, "b", "two"),
        send(closed, closed_id, "c", "to a closed chat"),
        send(ok, ok_id, "b", "two, retried in the same batch"),
        send(dup, dup_id, "new", "three"),
    ]
    if grouped:
        assert rt.db.group_commit is not None and rt.db.batched is not None
        await _until(lambda: _joined(rt) == len(sends) + 1)
        # Every first attempt waits as a write program for one batch (their keys and the
        # workspace's settings are held since each chat's first message).
        assert len(rt.db.batched._queue) == len(sends)
        before = rt.db.batched.batches_committed
        holder.release.set()
    outcomes = await asyncio.gather(*sends, return_exceptions=True)
    if grouped:
        await holder.task
        assert rt.db.batched is not None
        # All first attempts in one transaction, one trip; the two retries of a taken client
        # id and the closed chat are answered by the full path after it committed.
        assert rt.db.batched.batches_committed == before + 1

    first, retried, refused, second, to_closed, second_again, third = outcomes
    assert isinstance(first, SendResult) and not first.duplicate
    assert isinstance(second, SendResult) and isinstance(second_again, SendResult)
    # "b" twice: one is stored, the other answered with it (in batch order on SQLite; on
    # PostgreSQL whichever transaction won).
    assert {second.duplicate, second_again.duplicate} == {False, True}
    assert second_again.message["id"] == second.message["id"]
    assert sorted([first.message["seq"], second.message["seq"]]) == [2, 3]
    if grouped:  # batch members take their turns in arrival order
        assert [first.message["seq"], second.message["seq"]] == [2, 3]
        assert second_again.duplicate
    assert isinstance(retried, SendResult) and retried.duplicate
    assert retried.message["id"] == stored.message["id"]
    assert retried.message["body"] == "First"
    assert isinstance(third, SendResult) and third.message["seq"] == 3
    assert isinstance(refused, ConsentRequired)
    assert isinstance(to_closed, Conflict)
    assert await _seqs(rt, ok_id) == [1, 2, 3]
    assert await _seqs(rt, dup_id) == [1, 2, 3]
    assert await _seqs(rt, withdrawn_id) == [1]
    assert await _seqs(rt, closed_id) == [1]


async def test_no_send_returns_before_the_commit_of_its_batch(
    rt: Runtime, chats: dict[str, tuple[VisitorClient, Principal, str]]
) -> None:
    _, ok, ok_id = chats["ok"]
    grouped = rt.db.group_commit is not None
    if grouped:
        first = Holder(rt)
        await first.entered.wait()
    sends = [
        asyncio.create_task(
            do_send_message(rt, ok, uuid.UUID(ok_id), client_id=f"m{i}", body=f"message {i}")
        )
        for i in range(4)
    ]
    if grouped:
        assert rt.db.batched is not None
        await _until(lambda: _joined(rt) == 5)
        assert len(rt.db.batched._queue) == 4  # the sends wait as write programs
        real_run = batched_writes.run_programs
        seen: list[tuple[bool, list[int]]] = []

        def observed(connection: Any, programs: Any, **options: Any) -> Any:
            outcomes = real_run(connection, programs, **options)  # COMMIT included
            # Before the loop resolves anyone's future: no send has returned yet.
            seen.append((any(task.done() for task in sends), _committed_seqs(rt, ok_id)))
            return outcomes

        batched_writes.run_programs = observed  # type: ignore[assignment]
        try:
            first.release.set()
            results = await asyncio.gather(*sends)
        finally:
            batched_writes.run_programs = real_run  # type: ignore[assignment]
        await first.task
        # Committed before any send returned (so before any ack could leave).
        assert seen == [(False, [1, 2, 3, 4, 5])]
    else:
        results = await asyncio.gather(*sends)
    assert sorted(r.message["seq"] for r in results) == [2, 3, 4, 5]
    assert await _seqs(rt, ok_id) == [1, 2, 3, 4, 5]


async def test_a_retry_to_a_closed_conversation_returns_the_stored_message_and_no_number(
    rt: Runtime, client: httpx.AsyncClient, chats: dict[str, tuple[VisitorClient, Principal, str]]
) -> None:
    # The lean path claims a number before it sees the status; a closed conversation gives it
    # back and is answered as before: a retry with the stored message, a new send with 409.
    visitor, principal, conversation_id = chats["ok"]
    cid = uuid.UUID(conversation_id)
    stored = await do_send_message(rt, principal, cid, client_id="k", body="Before closing")
    closed = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/close", headers=visitor.headers
    )
    assert closed.status_code == 200, closed.text
    retried = await do_send_message(rt, principal, cid, client_id="k", body="Before closing")
    assert retried.duplicate and retried.message["id"] == stored.message["id"]
    with pytest.raises(Conflict):
        await do_send_message(rt, principal, cid, client_id="n", body="After closing")
    async with rt.db.session() as session:
        last_seq = await session.scalar(select(Conversation.last_seq).where(Conversation.id == cid))
    assert last_seq == 2
    assert await _seqs(rt, conversation_id) == [1, 2]
