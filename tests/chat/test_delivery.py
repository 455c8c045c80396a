"""The delivery contract over real WebSockets: ack, idempotent retry, resume, order, scope."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from confide.access.models import Role
from confide.chat.models import Message
from confide.runtime import Runtime
from tests.chat.helpers import Socket, agent_token, new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    support = await world.group("Support")
    sales = await world.group("Sales")
    agent = await world.operator("alice", Role.AGENT, groups=[support])
    other = await world.operator("bob", Role.AGENT, groups=[sales])
    admin = await world.operator("ada", Role.ADMIN)
    return {"support": support, "sales": sales, "agent": agent, "other": other, "admin": admin}


async def console(server: LiveServer, world: World, account: object) -> Socket:
    token = await agent_token(world, account)
    return await open_socket(f"{server.ws_url}/api/v1/ws/console", token=token)


async def widget(server: LiveServer, token: str) -> Socket:
    return await open_socket(f"{server.ws_url}/api/v1/ws/widget", token=token)


async def test_visitor_message_is_acked_and_delivered_to_the_agent_in_order(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "First question", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    assert chat["message"]["seq"] == 1

    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    backlog = await agent.recv()
    assert (backlog["type"], backlog["seq"], backlog["body"]) == ("message", 1, "First question")
    assert (await agent.recv())["type"] == "subscribed"

    guest = await widget(live_server, visitor.token)
    await guest.send(type="subscribe", conversation_id=conversation_id, since=1)
    assert (await guest.recv())["type"] == "subscribed"
    await guest.send(type="message", conversation_id=conversation_id, client_id="c-2", body="More")
    ack = await guest.recv_until(lambda f: f["type"] == "ack")
    assert (ack["client_id"], ack["seq"], ack["duplicate"]) == ("c-2", 2, False)

    live = await agent.recv_until(lambda f: f["type"] == "message")
    assert (live["seq"], live["body"], live["author"]["kind"]) == (2, "More", "visitor")

    await agent.send(type="message", conversation_id=conversation_id, client_id="a-1", body="Hi!")
    reply = await guest.recv_until(lambda f: f["type"] == "message" and f["seq"] == 3)
    assert reply["body"] == "Hi!"
    assert reply["author"]["kind"] == "operator"
    assert "email" not in reply["author"]
    await agent.close()
    await guest.close()


async def test_retry_with_the_same_client_id_is_stored_once(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    team: dict[str, object],
    rt: Runtime,
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    await agent.recv_until(lambda f: f["type"] == "subscribed")

    guest = await widget(live_server, visitor.token)
    acks = []
    for _ in range(3):
        await guest.send(
            type="message",
            conversation_id=conversation_id,
            client_id="same",
            body="Only once please",
        )
        acks.append(await guest.recv_until(lambda f: f["type"] == "ack"))
    assert [a["seq"] for a in acks] == [1, 1, 1]
    assert [a["duplicate"] for a in acks] == [False, True, True]
    rest = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": "same", "body": "Only once please"},
        headers=visitor.headers,
    )
    assert rest.status_code == 201 and rest.json()["duplicate"] is True

    async with rt.db.session() as session:
        stored = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == uuid.UUID(conversation_id))
        )
    assert stored == 1
    received = [f for f in await agent.nothing_for(0.4) if f["type"] == "message"]
    assert [(m["seq"], m["body"]) for m in received] == [(1, "Only once please")]
    await agent.close()
    await guest.close()


async def test_reconnecting_client_resumes_from_its_last_seq_without_loss(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "one", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    first = await agent.recv_until(lambda f: f["type"] == "message")
    assert first["seq"] == 1
    await agent.close()  # the agent's connection drops

    for text in ("two", "three", "four"):
        response = await client.post(
            f"/api/v1/widget/conversations/{conversation_id}/messages",
            json={"client_id": text, "body": text},
            headers=visitor.headers,
        )
        assert response.status_code == 201

    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=first["seq"])
    missed = []
    while True:
        frame = await agent.recv()
        if frame["type"] == "subscribed":
            break
        missed.append(frame)
    assert [(m["seq"], m["body"]) for m in missed] == [(2, "two"), (3, "three"), (4, "four")]
    assert frame["last_seq"] == 4
    await agent.close()


async def test_burst_of_messages_arrives_complete_and_in_order(
    world: World, client: httpx.AsyncClient, live_server: LiveServer, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=0)
    await agent.recv_until(lambda f: f["type"] == "subscribed")
    guest = await widget(live_server, visitor.token)
    count = 25
    for i in range(count):
        await guest.send(
            type="message", conversation_id=conversation_id, client_id=f"m{i}", body=f"message {i}"
        )
    acks = [await guest.recv_until(lambda f: f["type"] == "ack") for _ in range(count)]
    assert [a["client_id"] for a in acks] == [f"m{i}" for i in range(count)]
    assert [a["seq"] for a in acks] == list(range(1, count + 1))
    received = [await agent.recv_until(lambda f: f["type"] == "message") for _ in range(count)]
    assert [(m["seq"], m["body"]) for m in received] == [
        (i + 1, f"message {i}") for i in range(count)
    ]
    await agent.close()
    await guest.close()


async def test_with_transcripts_off_a_retry_after_reconnect_is_a_duplicate_and_relayed_once(
    world: World,
    client: httpx.AsyncClient,
    live_server: LiveServer,
    team: dict[str, object],
    rt: Runtime,
) -> None:
    from confide.chat.models import RelayedClientId
    from tests.privacy.helpers import set_privacy

    await set_privacy(client, await world.headers(team["admin"]), store_transcripts=False)  # type: ignore[arg-type]
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Hello", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    agent = await console(live_server, world, team["agent"])
    await agent.send(type="subscribe", conversation_id=conversation_id, since=1)
    await agent.recv_until(lambda f: f["type"] == "subscribed")

    guest = await widget(live_server, visitor.token)
    frame = {
        "conversation_id": conversation_id,
        "client_id": "c-2",
        "body": "Card 4111 1111 1111 1111",
    }
    await guest.send(type="message", **frame)
    first = await guest.recv_until(lambda f: f["type"] == "ack")
    assert (first["seq"], first["duplicate"]) == (2, False)
    await guest.close()  # the ack was "lost": the widget reconnects and re-sends
    guest = await widget(live_server, visitor.token)
    await guest.send(type="message", **frame)
    retry = await guest.recv_until(lambda f: f["type"] == "ack")
    assert (retry["seq"], retry["id"], retry["duplicate"]) == (2, first["id"], True)
    assert retry["body"] == "Card [redacted card]"
    # The next new message is seq 3, and the agent's stream holds c-2 once, then c-3.
    await guest.send(type="message", conversation_id=conversation_id, client_id="c-3", body="Ok")
    assert (await guest.recv_until(lambda f: f["type"] == "ack"))["seq"] == 3
    seen = []
    while not seen or seen[-1][0] != 3:
        event = await agent.recv_until(lambda f: f["type"] == "message")
        seen.append((event["seq"], event["client_id"]))
    assert seen == [(2, "c-2"), (3, "c-3")]
    rest = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": "c-2", "body": "Card 4111 1111 1111 1111"},
        headers=visitor.headers,
    )
    assert rest.json()["duplicate"] is True and rest.json()["message"]["seq"] == 2
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
        kept = (await session.scalars(select(RelayedClientId.client_id))).all()
    assert sorted(kept) == sorted([chat["message"]["client_id"], "c-2", "c-3"])
    await agent.close()
    await guest.close()


async def test_with_transcripts_off_only_the_newest_client_ids_are_kept(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from confide.chat import exactly_once
    from confide.chat.models import RelayedClientId
    from tests.privacy.helpers import set_privacy

    monkeypatch.setattr(exactly_once, "RELAYED_CLIENT_IDS_KEPT", 2)
    await set_privacy(client, await world.headers(team["admin"]), store_transcripts=False)  # type: ignore[arg-type]
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None, group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    for i in range(5):
        sent = await client.post(
            f"/api/v1/widget/conversations/{conversation_id}/messages",
            json={"client_id": f"k-{i}", "body": f"message {i}"},
            headers=visitor.headers,
        )
        assert sent.status_code == 201 and sent.json()["duplicate"] is False
    async with rt.db.session() as session:
        kept = (await session.scalars(select(RelayedClientId.client_id))).all()
    assert sorted(kept) == ["k-3", "k-4"]
