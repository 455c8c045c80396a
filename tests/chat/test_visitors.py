"""Visitors (VUID, identify by API key or widget) and the limits that protect the service."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import select

from confide.access.models import Role
from confide.chat.models import Visitor
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, open_socket, start_chat, token_subprotocols
from tests.conftest import LiveServer, World


@pytest.fixture
async def admin_headers(world: World) -> dict[str, str]:
    await world.group("Support")
    return await world.headers(await world.operator("ada", Role.ADMIN))


async def api_key(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, str]:
    response = await client.post(
        "/api/v1/api-keys", json={"name": "backend"}, headers=admin_headers
    )
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def test_vuids_are_random_and_not_derived_from_the_person(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    vuids = {(await new_visitor(client)).vuid for _ in range(5)}
    assert len(vuids) == 5
    assert all(v.startswith("v_") and len(v) >= 20 for v in vuids)


async def test_unknown_workspace_gets_a_clear_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/widget/nope/visitors")
    assert response.status_code == 404
    assert "data-workspace" in response.json()["error"]["message"]


async def test_backend_identifies_a_visitor_by_vuid_and_agents_see_it(
    world: World, client: httpx.AsyncClient, admin_headers: dict[str, str], rt: Runtime
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "hello")
    key = await api_key(client, admin_headers)
    response = await client.post(
        "/api/v1/visitors/identify",
        json={
            "vuid": visitor.vuid,
            "email": "Grace.Hopper@Example.invalid",
            "name": "Grace H",
            "phone": "+33 6 00 00 00 00",
            "attributes": {"plan": "pro", "seats": 3},
        },
        headers=key,
    )
    assert response.status_code == 200, response.text
    detail = await client.get(
        f"/api/v1/conversations/{chat['conversation']['id']}", headers=admin_headers
    )
    seen = detail.json()["visitor"]
    assert (seen["email"], seen["name"], seen["attributes"]) == (
        "Grace.Hopper@Example.invalid",
        "Grace H",
        {"plan": "pro", "seats": 3},
    )
    # The identifiers live in the vault, findable by blind index, not in the visitors table.
    async with rt.db.session() as session:
        row = await session.scalar(select(Visitor).where(Visitor.vuid == visitor.vuid))
        assert row is not None
        found = await rt.vault.find_subjects(
            session,
            workspace_id=row.workspace_id,
            field="email",
            value="grace.hopper@example.invalid",
        )
        assert found == [row.subject_id]
    # Attributes merge; null removes one.
    await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "attributes": {"seats": None, "country": "FR"}},
        headers=key,
    )
    detail = await client.get(
        f"/api/v1/conversations/{chat['conversation']['id']}", headers=admin_headers
    )
    assert detail.json()["visitor"]["attributes"] == {"plan": "pro", "country": "FR"}


async def test_identify_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    key = await api_key(client, admin_headers)
    visitor = await new_visitor(client)
    cases = [
        ({"vuid": visitor.vuid, "email": "not-an-email"}, 422, "email"),
        ({"vuid": visitor.vuid, "phone": "call me maybe"}, 422, "phone"),
        ({"email": "a@b.example"}, 422, "vuid"),
        ({"vuid": "v_doesnotexist", "name": "X"}, 404, "vuid"),
        ({"vuid": visitor.vuid, "attributes": {str(i): i for i in range(60)}}, 422, "attributes"),
    ]
    for body, status, field in cases:
        response = await client.post("/api/v1/visitors/identify", json=body, headers=key)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["field"] == field


async def test_an_operator_token_cannot_use_the_identify_api(
    world: World, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    response = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "name": "X"},
        headers=admin_headers,
    )
    assert response.status_code == 403


async def test_widget_identify_writes_only_the_visitors_own_profile(
    client: httpx.AsyncClient, admin_headers: dict[str, str], rt: Runtime
) -> None:
    visitor = await new_visitor(client)
    response = await client.post(
        "/api/v1/widget/identify", json={"name": "Self Named"}, headers=visitor.headers
    )
    assert response.status_code == 200
    async with rt.db.session() as session:
        row = await session.scalar(select(Visitor).where(Visitor.vuid == visitor.vuid))
        assert row is not None
        assert (await rt.vault.read_fields(session, [row.subject_id]))[row.subject_id] == {
            "name": "Self Named"
        }


async def test_message_too_long_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, admin_headers: dict[str, str], rt: Runtime
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None)
    response = await client.post(
        f"/api/v1/widget/conversations/{chat['conversation']['id']}/messages",
        json={"client_id": "big", "body": "x" * (rt.settings.message_max_chars + 1)},
        headers=visitor.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"
    history = await client.get(
        f"/api/v1/widget/conversations/{chat['conversation']['id']}/messages",
        headers=visitor.headers,
    )
    assert history.json()["messages"] == []


async def test_oversized_and_malformed_socket_frames_are_answered_not_crashed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], live_server: LiveServer
) -> None:
    import websockets

    visitor = await new_visitor(client)
    socket = await open_socket(f"{live_server.ws_url}/api/v1/ws/widget", token=visitor.token)
    for raw, field in (
        ("not json", "frame"),
        ("[1,2]", "type"),
        ('{"type":"nope"}', "type"),
        ('{"type":"subscribe","conversation_id":"x"}', "conversation_id"),
        (
            json.dumps(
                {
                    "type": "message",
                    "conversation_id": str(uuid.uuid4()),
                    "client_id": 1,
                    "body": "x",
                }
            ),
            "client_id",
        ),
    ):
        await socket.connection.send(raw)
        error = await socket.recv()
        assert (error["type"], error["field"]) == ("error", field), raw
    await socket.send(type="ping")
    assert (await socket.recv())["type"] == "pong"
    await socket.connection.send(json.dumps({"type": "ping", "pad": "x" * 300_000}))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_invalid_visitor_token_is_refused_at_the_handshake(
    live_server: LiveServer, admin_headers: dict[str, str]
) -> None:
    import websockets

    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            f"{live_server.ws_url}/api/v1/ws/widget", subprotocols=token_subprotocols("forged")
        )
    assert refused.value.response.status_code == 403


async def test_a_visitor_token_lives_thirty_days_not_a_year(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    import jwt

    from confide.core import clock

    await world.workspace()
    visitor = await new_visitor(client)
    claims = jwt.decode(visitor.token, options={"verify_signature": False})
    assert (
        claims["exp"] - claims["iat"] == 30 * 86_400 == rt.settings.visitor_token_ttl_days * 86_400
    )
    mine = "/api/v1/widget/conversations"
    assert (await client.get(mine, headers=visitor.headers)).status_code == 200
    clock.advance(30 * 86_400 + 1)
    expired = await client.get(mine, headers=visitor.headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_token"


async def test_erasing_a_visitor_revokes_its_token_at_once(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    import websockets

    await world.workspace()
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Please forget me")
    mine = f"/api/v1/widget/conversations/{chat['conversation']['id']}/messages"
    assert (await client.get(mine, headers=visitor.headers)).status_code == 200
    async with rt.db.transaction() as session:
        stored = await session.scalar(select(Visitor).where(Visitor.vuid == visitor.vuid))
        assert stored is not None
        await rt.vault.erase_subject(
            session, stored.subject_id, [uuid.UUID(chat["conversation"]["id"])]
        )
    refused = await client.get(mine, headers=visitor.headers)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"
    with pytest.raises(websockets.InvalidStatus) as handshake:
        await websockets.connect(
            f"{live_server.ws_url}/api/v1/ws/widget",
            subprotocols=token_subprotocols(visitor.token),
        )
    assert handshake.value.response.status_code == 403
