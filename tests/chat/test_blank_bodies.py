"""A message that shows nothing is refused like an empty one: 422 naming ``body``, nothing
stored, on every path a body arrives by (widget, console/API, socket, provider webhook)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from confide.access.models import Role
from confide.chat.message_input import is_blank
from confide.chat.models import Message
from confide.runtime import Runtime
from tests.chat.helpers import agent_token, new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World

INVISIBLE_BODIES = ["\u200b", "\u200b\u200c\u200d\ufeff", "\u2060\u200e\u200f", "\u3164"]


async def _messages(rt: Runtime) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


@pytest.mark.parametrize("body", [*INVISIBLE_BODIES, " \u200b\t\u00a0\u2800 ", "\ufe0f"])
async def test_an_invisible_body_is_refused_naming_body(
    world: World, client: httpx.AsyncClient, rt: Runtime, body: str
) -> None:
    await world.group("Support")
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None)
    conversation_id = chat["conversation"]["id"]
    response = await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": "c-1", "body": body},
        headers=visitor.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "body"
    started = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "c-2", "body": body}},
        headers=visitor.headers,
    )
    assert started.status_code == 422, started.text
    assert started.json()["error"]["field"] in ("body", "message.body")
    assert await _messages(rt) == 0


async def test_an_operator_reply_and_a_socket_frame_are_refused_the_same_way(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    support = await world.group("Support")
    agent = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    conversation_id = (await start_chat(client, visitor, None, group_id=support))["conversation"][
        "id"
    ]
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "op-1", "body": "\u200b\u200c"},
        headers=await world.headers(agent),
    )
    assert reply.status_code == 422 and reply.json()["error"]["field"] == "body"
    socket = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, agent)
    )
    await socket.send(type="subscribe", conversation_id=conversation_id, since=0)
    await socket.recv_until(lambda f: f["type"] == "subscribed")
    await socket.send(
        type="message", conversation_id=conversation_id, client_id="op-2", body="\u3164"
    )
    error = await socket.recv_until(lambda f: f["type"] == "error")
    assert error["field"] == "body"
    await socket.close()
    assert await _messages(rt) == 0


def test_visible_text_with_joiners_inside_is_kept() -> None:
    assert not is_blank("\U0001f469\u200d\U0001f4bb")  # woman technologist: ZWJ inside
    assert not is_blank("a\u200b")
    assert not is_blank("\u05d0\u200f")  # Hebrew letter then a direction mark
    assert is_blank("")
    assert all(is_blank(body) for body in INVISIBLE_BODIES)


async def test_bidirectional_controls_are_dropped_so_text_reads_as_sent(
    world: World, client: httpx.AsyncClient
) -> None:
    """A right-to-left override shows "invoice\u202egnp.exe" as "invoiceexe.png": the
    controls are dropped before storage, the marks (LRM/RLM) and Arabic text stay."""
    await world.group("Support")
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None)
    conversation_id = chat["conversation"]["id"]
    path = f"/api/v1/widget/conversations/{conversation_id}/messages"
    hello = "\u0645\u0631\u062d\u0628\u0627"  # Arabic, right to left without any control
    sent = await client.post(
        path,
        json={"client_id": "c-1", "body": f"invoice\u202egnp.exe \u2066x\u2069 \u200f{hello}"},
        headers=visitor.headers,
    )
    assert sent.status_code == 201, sent.text
    listed = (await client.get(path, headers=visitor.headers)).json()["messages"]
    assert [m["body"] for m in listed] == [f"invoicegnp.exe x \u200f{hello}"]
    only = await client.post(
        path, json={"client_id": "c-2", "body": "\u202e\u202c"}, headers=visitor.headers
    )
    assert only.status_code == 422 and only.json()["error"]["field"] == "body"


async def test_a_broken_character_is_refused_naming_body_and_the_socket_goes_on(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    # Half of an emoji (a lone surrogate, sent as the JSON escape "\ud83d") cannot be stored:
    # it was a failed socket (1011) and the widget resent it for ever.
    support = await world.group("Support")
    agent = await world.operator("alice", Role.AGENT, groups=[support])
    visitor = await new_visitor(client)
    conversation_id = (await start_chat(client, visitor, "Hello", group_id=support))[
        "conversation"
    ]["id"]
    socket = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    await socket.send(type="subscribe", conversation_id=conversation_id, since=0)
    await socket.recv_until(lambda f: f["type"] == "subscribed")
    await socket.send(
        type="message", conversation_id=conversation_id, client_id="v-2", body="price 20\ud83d"
    )
    error = await socket.recv_until(lambda f: f["type"] == "error")
    assert error["field"] == "body" and error["client_id"] == "v-2"
    await socket.send(
        type="message", conversation_id=conversation_id, client_id="v-3", body="price 20 EUR"
    )
    ack = await socket.recv_until(lambda f: f["type"] == "ack")
    assert ack["client_id"] == "v-3" and ack["seq"] == 2
    await socket.close()
    reply = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "op-1", "body": "ok"},
        headers=await world.headers(agent),
    )
    assert reply.status_code == 201, reply.text
    assert await _messages(rt) == 3
