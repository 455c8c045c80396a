"""Database turns for sockets (``confide.realtime.turns``): a burst of subscribes waits for
its turn before it opens a session, and a backlog is read in turns and sent outside them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from confide.chat import conversations, messages
from confide.core.db import Database
from confide.realtime import turns
from confide.realtime.sockets import SocketSession
from tests.chat.helpers import new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World


async def test_at_most_so_many_hold_a_turn_and_the_others_enter_in_arrival_order() -> None:
    gate = turns.DatabaseTurns(2)
    inside: list[int] = []
    entered: list[int] = []
    release = asyncio.Event()

    async def one(n: int) -> None:
        async with gate:
            entered.append(n)
            inside.append(n)
            assert len(inside) <= 2
            await release.wait()
            inside.remove(n)

    tasks = [asyncio.create_task(one(n)) for n in range(5)]
    await _until(lambda: gate.waiting == 3)
    assert entered == [0, 1]
    release.set()
    await asyncio.gather(*tasks)
    assert entered == [0, 1, 2, 3, 4]


async def test_a_turn_is_given_back_when_its_holder_fails() -> None:
    gate = turns.DatabaseTurns(1)
    with pytest.raises(RuntimeError):
        async with gate:
            raise RuntimeError("the read failed")
    async with asyncio.timeout(1):
        async with gate:
            pass


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (at most about 10 s) until ``condition`` holds; fail if it never does."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition never held")


def test_each_database_has_its_own_turns() -> None:
    first = Database("sqlite+aiosqlite:///:memory:")
    second = Database("sqlite+aiosqlite:///:memory:")
    assert turns.of(first) is turns.of(first)
    assert turns.of(first) is not turns.of(second)


async def test_a_subscribe_waits_for_a_turn_before_it_reads(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await world.workspace()
    gate = turns.DatabaseTurns(1)
    monkeypatch.setattr(turns, "of", lambda db: gate)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Hello")
    guest = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    checks: list[uuid.UUID] = []
    load_for = conversations.load_for

    async def recorded(session: Any, principal: Any, conversation_id: uuid.UUID, **kw: Any) -> Any:
        checks.append(conversation_id)
        return await load_for(session, principal, conversation_id, **kw)

    monkeypatch.setattr(conversations, "load_for", recorded)
    async with gate:  # every turn taken
        await guest.send(type="subscribe", conversation_id=chat["conversation"]["id"])
        await _until(lambda: gate.waiting == 1)  # the subscribe is in line...
        assert checks == []  # ... and has not touched the database
    backlog = await guest.recv()
    assert (backlog["type"], backlog["seq"], backlog["body"]) == ("message", 1, "Hello")
    assert (await guest.recv())["type"] == "subscribed"
    await guest.close()


async def test_a_backlog_of_several_pages_arrives_complete_and_in_order(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await world.workspace()

    async def two_per_page(self: SocketSession, conversation_id: uuid.UUID) -> dict[str, Any]:
        since = self.delivered[conversation_id]
        return await messages.list_messages(
            self.rt, self.principal, conversation_id, since=since, limit=2
        )

    monkeypatch.setattr(SocketSession, "_backlog_page", two_per_page)
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "m1")
    conversation_id = chat["conversation"]["id"]
    writer = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    await writer.send(type="subscribe", conversation_id=conversation_id, since=1)
    await writer.recv_until(lambda f: f["type"] == "subscribed")
    for n in range(2, 6):
        await writer.send(
            type="message", conversation_id=conversation_id, client_id=f"c{n}", body=f"m{n}"
        )
        await writer.recv_until(lambda f: f["type"] == "ack")
    await writer.close()

    reader = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    await reader.send(type="subscribe", conversation_id=conversation_id, since=0)
    frames = [await reader.recv() for _ in range(6)]
    assert [(f["type"], f.get("body")) for f in frames[:5]] == [
        ("message", f"m{n}") for n in range(1, 6)
    ]
    assert (frames[5]["type"], frames[5]["last_seq"]) == ("subscribed", 5)
    await reader.close()
