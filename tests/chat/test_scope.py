"""An agent never sees what the policy forbids, over REST or WebSocket, and changes of
assignment or role take effect on open sockets at once."""

from __future__ import annotations

import uuid

import httpx
import pytest

from confide.access.models import Role
from confide.runtime import Runtime
from tests.chat.helpers import agent_token, new_visitor, open_socket, start_chat, token_subprotocols
from tests.conftest import LiveServer, World
from tests.web.helpers import sign_in


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    support = await world.group("Support")
    sales = await world.group("Sales")
    return {
        "support": support,
        "sales": sales,
        "alice": await world.operator("alice", Role.AGENT, groups=[support]),
        "carol": await world.operator("carol", Role.AGENT, groups=[support]),
        "bob": await world.operator("bob", Role.AGENT, groups=[sales]),
        "ada": await world.operator("ada", Role.ADMIN),
        "nina": await world.operator("nina", Role.ANALYST, groups=[support]),
    }


async def test_agent_of_another_group_cannot_read_the_conversation_over_rest(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "secret words", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    bob = await world.headers(team["bob"])  # type: ignore[arg-type]
    for path in ("", "/messages"):
        response = await client.get(f"/api/v1/conversations/{conversation_id}{path}", headers=bob)
        assert response.status_code == 404
        assert "secret words" not in response.text
    send = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"client_id": "x", "body": "hi"},
        headers=bob,
    )
    assert send.status_code == 404
    listed = await client.get("/api/v1/conversations", headers=bob)
    assert listed.status_code == 200
    assert conversation_id not in listed.text

    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    mine = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=alice)
    assert mine.status_code == 200
    assert [m["body"] for m in mine.json()["messages"]] == ["secret words"]


async def test_analyst_has_no_chat_room(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hello", group_id=team["support"])  # type: ignore[arg-type]
    nina = await world.headers(team["nina"])  # type: ignore[arg-type]
    response = await client.get(f"/api/v1/conversations/{chat['conversation']['id']}", headers=nina)
    assert response.status_code == 403
    token = await agent_token(world, team["nina"])
    import websockets

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{live_server.ws_url}/api/v1/ws/console", subprotocols=token_subprotocols(token)
        )
    assert refused.value.response.status_code == 403


async def test_agent_of_another_group_cannot_subscribe_over_websocket(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hello", group_id=team["support"])  # type: ignore[arg-type]
    token = await agent_token(world, team["bob"])
    bob = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await bob.send(type="subscribe", conversation_id=chat["conversation"]["id"], since=0)
    error = await bob.recv()
    assert (error["type"], error["code"]) == ("error", "not_found")
    await client.post(
        f"/api/v1/widget/conversations/{chat['conversation']['id']}/messages",
        json={"client_id": "2", "body": "more secrets"},
        headers=visitor.headers,
    )
    frames = await bob.nothing_for(0.4)
    assert all("more secrets" not in str(f) for f in frames)
    await bob.close()


async def test_another_workspaces_visitor_cannot_reach_the_conversation(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    await world.workspace("globex")
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "acme only", group_id=team["support"])  # type: ignore[arg-type]
    intruder = await new_visitor(client, "globex")
    conversation_id = chat["conversation"]["id"]
    response = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}/messages", headers=intruder.headers
    )
    assert response.status_code == 404
    socket = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=intruder.token)
    await socket.send(type="subscribe", conversation_id=conversation_id, since=0)
    assert (await socket.recv())["code"] == "not_found"
    await socket.close()
    # And another acme visitor is just as much a stranger.
    neighbour = await new_visitor(client)
    response = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}", headers=neighbour.headers
    )
    assert response.status_code == 404


async def test_reassignment_revokes_an_open_subscription_at_once(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "waiting", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    token = await agent_token(world, team["alice"])
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await alice.send(type="subscribe", conversation_id=conversation_id, since=0)
    await alice.recv_until(lambda f: f["type"] == "subscribed")

    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    response = await client.post(
        f"/api/v1/conversations/{conversation_id}/assign",
        json={"operator_id": str(team["carol"].id)},
        headers=admin,  # type: ignore[attr-defined]
    )
    assert response.status_code == 200, response.text
    revoked = await alice.recv_until(lambda f: f["type"] == "unsubscribed")
    assert revoked["conversation_id"] == conversation_id
    await client.post(
        f"/api/v1/widget/conversations/{conversation_id}/messages",
        json={"client_id": "after", "body": "for carol only"},
        headers=visitor.headers,
    )
    frames = await alice.nothing_for(0.4)
    assert all("for carol only" not in str(f) for f in frames)
    await alice.close()


async def test_role_change_closes_the_chat_room_on_open_sockets(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    import websockets

    token = await agent_token(world, team["alice"])
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    response = await client.patch(
        f"/api/v1/operators/{team['alice'].id}",
        json={"role": "analyst"},
        headers=admin,  # type: ignore[attr-defined]
    )
    assert response.status_code == 200
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await alice.recv_until(lambda f: False, timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_group_removal_drops_subscriptions_on_open_sockets(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hi", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    token = await agent_token(world, team["alice"])
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await alice.send(type="subscribe", conversation_id=conversation_id, since=0)
    await alice.recv_until(lambda f: f["type"] == "subscribed")
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    response = await client.patch(
        f"/api/v1/operators/{team['alice'].id}",  # type: ignore[attr-defined]
        json={"group_ids": [str(team["sales"])]},
        headers=admin,
    )
    assert response.status_code == 200
    revoked = await alice.recv_until(lambda f: f["type"] == "unsubscribed")
    assert revoked["conversation_id"] == conversation_id
    await alice.close()


async def test_logout_closes_open_console_sockets(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    import websockets

    token = await agent_token(world, team["alice"])
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    response = await client.post(
        "/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await alice.recv_until(lambda f: False, timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_cross_origin_cookie_socket_is_refused(
    world: World, team: dict[str, object], live_server: LiveServer
) -> None:
    import websockets

    token = await agent_token(world, team["alice"])
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{live_server.ws_url}/api/v1/ws/console",
            additional_headers={
                "Cookie": f"confide_access={token}",
                "Origin": "https://evil.example",
            },
        )
    assert refused.value.response.status_code == 403


async def test_reads_over_the_console_socket_and_lists_are_audited(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    live_server: LiveServer,
    rt: Runtime,
) -> None:
    from sqlalchemy import select

    from confide.audit.models import AuditEvent
    from confide.chat.models import Conversation, Visitor

    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hello", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    token = await agent_token(world, team["alice"])
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await alice.send(type="subscribe", conversation_id=conversation_id, since=0)
    await alice.recv_until(lambda f: f["type"] == "subscribed")
    await alice.close()
    listed = await client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    async with rt.db.session() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
        visitor_row = await session.scalar(select(Visitor).where(Visitor.vuid == visitor.vuid))
        conversation = await session.get(Conversation, uuid.UUID(conversation_id))
    assert visitor_row is not None and conversation is not None
    reads = [e for e in events if e.action == "conversation.messages_read"]
    assert [(str(e.actor_id), e.subject_id, e.resource) for e in reads] == [
        (str(team["alice"].id), visitor_row.subject_id, f"conversation:{conversation_id}")  # type: ignore[attr-defined]
    ]
    assert [e.action for e in events if e.action == "conversation.list"] == ["conversation.list"]


# -- data states and how much of the visitor ---------------------------------------------------


async def _identify(client: httpx.AsyncClient, admin: dict[str, str], vuid: str) -> None:
    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()["key"]
    response = await client.post(
        "/api/v1/visitors/identify",
        json={
            "vuid": vuid,
            "name": "Vera Visitor",
            "email": "vera@example.invalid",
            "phone": "+33 6 00 00 00 00",
            "attributes": {"plan": "pro"},
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text


async def _set_state(rt: Runtime, conversation_id: str, **state: object) -> None:
    """Put a conversation in a data state (the retention and request actions will do this)."""
    from sqlalchemy import update

    from confide.chat.models import Conversation

    async with rt.db.transaction() as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == uuid.UUID(conversation_id))
            .values(**state)
        )


async def test_agent_sees_the_visitors_name_but_not_their_email_or_phone(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hello", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await _identify(client, admin, visitor.vuid)
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]

    seen = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=alice)).json()
    listed = (await client.get("/api/v1/conversations", headers=alice)).json()["conversations"]
    for profile in (seen["visitor"], listed[0]["visitor"]):
        assert profile["view"] == "working"
        assert (profile["name"], profile["attributes"]) == ("Vera Visitor", {"plan": "pro"})
        assert "email" not in profile and "phone" not in profile
    await sign_in(world, team["alice"])  # type: ignore[arg-type]
    page = await client.get(f"/console/conversations/{conversation_id}")
    assert page.status_code == 200
    assert "Vera Visitor" in page.text and "<dt>plan</dt><dd>pro</dd>" in page.text
    assert "vera@example.invalid" not in page.text and "+33 6 00 00 00 00" not in page.text
    assert "E-mail and phone are shown to admins only." in page.text

    full = (await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)).json()
    assert full["visitor"]["view"] == "full"
    assert (full["visitor"]["email"], full["visitor"]["phone"]) == (
        "vera@example.invalid",
        "+33 6 00 00 00 00",
    )


async def test_archived_conversation_is_invisible_to_agents_and_admins(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "old words", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    await _set_state(world.rt, conversation_id, lifecycle="archived")
    for account in ("alice", "ada"):
        headers = await world.headers(team[account])  # type: ignore[arg-type]
        for path in ("", "/messages"):
            response = await client.get(
                f"/api/v1/conversations/{conversation_id}{path}", headers=headers
            )
            assert response.status_code == 404, (account, path)
            assert "old words" not in response.text
        listed = await client.get("/api/v1/conversations", headers=headers)
        assert conversation_id not in listed.text
    # Nor does the visitor's widget show it any more.
    response = await client.get(
        f"/api/v1/widget/conversations/{conversation_id}", headers=visitor.headers
    )
    assert response.status_code == 404


async def test_restricted_conversation_is_hidden_from_agents_but_not_from_admins(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "restrict me", group_id=team["support"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    await _set_state(world.rt, conversation_id, restricted=True, held=True)
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.get(f"/api/v1/conversations/{conversation_id}", headers=alice)
    assert response.status_code == 404
    assert conversation_id not in (await client.get("/api/v1/conversations", headers=alice)).text
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    detail = await client.get(f"/api/v1/conversations/{conversation_id}", headers=admin)
    assert detail.status_code == 200
    assert detail.json()["restricted"] is True
    listed = (await client.get("/api/v1/conversations", headers=admin)).json()["conversations"]
    assert [c["id"] for c in listed] == [conversation_id]
