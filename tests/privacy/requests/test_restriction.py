"""Restriction (GDPR Art. 18): the data stays, but agents no longer see the person's
conversations over REST or WebSocket (an open subscription is revoked at once) until the
restriction is lifted; objection (Art. 21) stops the named processing only."""

from __future__ import annotations

import uuid

import httpx

from confide.access.models import Role
from confide.privacy.requests.limits import objects_to
from confide.runtime import Runtime
from tests.chat.helpers import agent_token, open_socket, start_chat
from tests.conftest import LiveServer, World
from tests.privacy.requests.helpers import PHRASE, admin, identified_visitor

CASES = "/api/v1/dsr/cases"


async def test_restricted_data_is_invisible_to_an_agent_over_rest_and_websocket(
    world: World, client: httpx.AsyncClient, rt: Runtime, live_server: LiveServer
) -> None:
    support = await world.group("Support")
    headers = await admin(world)
    alice = await world.operator("alice", Role.AGENT, groups=[support])
    person = await identified_visitor(client, headers, group_id=support)
    conversation = f"/api/v1/conversations/{person.conversation_id}"
    alice_headers = await world.headers(alice)
    assert (await client.get(conversation, headers=alice_headers)).status_code == 200
    # Alice takes it: it stays hers once closed below, so the lift shows it to her again.
    taken = await client.post(
        f"{conversation}/assign", json={"operator_id": str(alice.id)}, headers=alice_headers
    )
    assert taken.status_code == 200, taken.text

    socket = await open_socket(
        f"{live_server.ws_url}/api/v1/ws/console", token=await agent_token(world, alice)
    )
    await socket.send(type="subscribe", conversation_id=person.conversation_id, since=0)
    await socket.recv_until(lambda f: f["type"] == "subscribed")

    case = (
        await client.post(
            CASES,
            json={"kind": "restriction", "visitor_id": person.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200, done.text
    revoked = await socket.recv_until(lambda f: f["type"] == "unsubscribed")
    assert revoked["conversation_id"] == person.conversation_id

    await client.post(
        f"/api/v1/widget/conversations/{person.conversation_id}/messages",
        json={"client_id": "after", "body": "restricted words"},
        headers=person.visitor.headers,
    )
    frames = await socket.nothing_for(0.4)
    assert all("restricted words" not in str(f) for f in frames)
    await socket.close()
    assert (await client.get(conversation, headers=alice_headers)).status_code == 404
    listed = await client.get("/api/v1/conversations", headers=alice_headers)
    assert person.conversation_id not in listed.text
    # The data is kept: the admin handling the request still reads it.
    messages = await client.get(f"{conversation}/messages", headers=headers)
    assert PHRASE in messages.text

    # A new conversation of the restricted person is restricted from the start (once the
    # open one ended: one open chat at a time).
    ended = await client.post(
        f"/api/v1/widget/conversations/{person.conversation_id}/close",
        headers=person.visitor.headers,
    )
    assert ended.status_code == 200, ended.text
    newer = (await start_chat(client, person.visitor, "one more", group_id=support))["conversation"]
    newer_path = f"/api/v1/conversations/{newer['id']}"
    assert (await client.get(newer_path, headers=alice_headers)).status_code == 404

    lifted = await client.post(f"{CASES}/{case['id']}/lift-restriction", headers=headers)
    assert lifted.status_code == 200, lifted.text
    assert (await client.get(conversation, headers=alice_headers)).status_code == 200
    assert (await client.get(newer_path, headers=alice_headers)).status_code == 200
    history = (await client.get(f"{CASES}/{case['id']}", headers=headers)).json()["history"]
    assert [h["action"] for h in history][-1] == "restriction_lifted"
    again = await client.post(f"{CASES}/{case['id']}/lift-restriction", headers=headers)
    assert again.status_code == 409


async def test_objection_stops_the_named_processing_only(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    case = (
        await client.post(
            CASES,
            json={
                "kind": "objection",
                "processing": "surveys",
                "visitor_id": person.visitor_id,
                "verified": True,
            },
            headers=headers,
        )
    ).json()
    assert (await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)).json()[
        "status"
    ] == "completed"
    from confide.chat.models import Visitor

    async with rt.db.session() as session:
        visitor = await session.get(Visitor, uuid.UUID(person.visitor_id))
        assert visitor is not None
        assert await objects_to(session, visitor.subject_id, "surveys")
        assert not await objects_to(session, visitor.subject_id, "enrichment")
    unnamed = await client.post(
        CASES, json={"kind": "objection", "visitor_id": person.visitor_id}, headers=headers
    )
    assert unnamed.status_code == 422 and unnamed.json()["error"]["field"] == "processing"


async def _object(
    client: httpx.AsyncClient, headers: dict[str, str], visitor_id: str, processing: str
) -> None:
    """File and carry out a verified objection of the visitor to ``processing``."""
    case = (
        await client.post(
            CASES,
            json={
                "kind": "objection",
                "processing": processing,
                "visitor_id": visitor_id,
                "verified": True,
            },
            headers=headers,
        )
    ).json()
    done = await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text


async def test_an_objection_to_surveys_refuses_the_rating_and_tells_the_widget(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    state = (await client.get("/api/v1/widget/consent", headers=person.visitor.headers)).json()
    assert state["objections"] == []
    await _object(client, headers, person.visitor_id, "surveys")
    state = (await client.get("/api/v1/widget/consent", headers=person.visitor.headers)).json()
    assert state["objections"] == ["surveys"]  # the widget no longer asks
    chat = f"/api/v1/widget/conversations/{person.conversation_id}"
    assert (await client.post(f"{chat}/close", headers=person.visitor.headers)).status_code == 200
    rated = await client.post(
        f"{chat}/csat", json={"score": 5, "comment": "kept?"}, headers=person.visitor.headers
    )
    assert rated.status_code == 409 and "objected" in rated.json()["error"]["message"]
    detail = (
        await client.get(f"/api/v1/conversations/{person.conversation_id}", headers=headers)
    ).json()
    assert detail["csat_score"] is None
    messages = await client.get(
        f"/api/v1/conversations/{person.conversation_id}/messages", headers=headers
    )
    assert "kept?" not in messages.text


async def test_an_objection_to_engagement_rules_drops_the_browsing_counts(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    await _object(client, headers, person.visitor_id, "engagement_rules")
    state = (await client.get("/api/v1/widget/consent", headers=person.visitor.headers)).json()
    assert state["objections"] == ["engagement_rules"]
    context = {"page_views": 7, "seconds_on_site": 42, "path": "/pricing", "rule": 0}
    ended = await client.post(  # a new chat, after the open one ended
        f"/api/v1/conversations/{person.conversation_id}/close", headers=headers
    )
    assert ended.status_code == 200, ended.text
    started = await client.post(
        "/api/v1/widget/conversations",
        json={"message": {"client_id": "again", "body": "Hello"}, "context": context},
        headers=person.visitor.headers,
    )
    assert started.status_code == 201, started.text
    detail = await client.get(
        f"/api/v1/conversations/{started.json()['conversation']['id']}", headers=headers
    )
    assert detail.json()["visitor_context"] == {"path": "/pricing"}


async def test_an_objection_to_enrichment_erases_the_attributes_and_refuses_new_ones(
    world: World, client: httpx.AsyncClient
) -> None:
    headers = await admin(world)
    person = await identified_visitor(client, headers)
    defined = await client.post(
        "/api/v1/visitor-attributes",
        json={"name": "shoe_size", "purpose": "Size advice", "retention_days": 90},
        headers=headers,
    )
    assert defined.status_code == 201, defined.text
    path = f"/api/v1/visitors/{person.visitor_id}/attributes"
    put = await client.put(f"{path}/shoe_size", json={"value": "EU 42"}, headers=headers)
    assert put.status_code == 200, put.text
    await _object(client, headers, person.visitor_id, "enrichment")
    assert (await client.get(path, headers=headers)).json()["attributes"] == []
    again = await client.put(f"{path}/shoe_size", json={"value": "EU 43"}, headers=headers)
    assert again.status_code == 409 and "enrichment" in again.json()["error"]["message"]
    # A restriction (Art. 18) stops every processing the widget runs, but keeps the data.
    other = await identified_visitor(client, headers, email="other.person@example.invalid")
    case = (
        await client.post(
            CASES,
            json={"kind": "restriction", "visitor_id": other.visitor_id, "verified": True},
            headers=headers,
        )
    ).json()
    await client.post(f"{CASES}/{case['id']}/carry-out", json={}, headers=headers)
    state = (await client.get("/api/v1/widget/consent", headers=other.visitor.headers)).json()
    assert state["objections"] == ["engagement_rules", "enrichment", "surveys"]
