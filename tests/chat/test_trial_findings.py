"""Faults a new user found: consent to a replaced text, an e-mail oracle for agents, and a
rating score that was not a number."""

from __future__ import annotations

import httpx

from confide.access.models import Role
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.privacy.helpers import decide, publish, set_privacy

OLD_TEXT = "We use this chat to answer your question."
NEW_TEXT = "We use this chat, and its page address, to answer your question."


async def test_a_replaced_consent_text_can_no_longer_be_granted(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    await publish(client, admin, "chat", OLD_TEXT, version="3")
    await set_privacy(client, admin, consent_required=True)
    visitor = await new_visitor(client)
    assert (await decide(client, visitor, "chat", OLD_TEXT, version="3")).status_code == 201
    await publish(client, admin, "chat", NEW_TEXT, version="5")

    stale = await decide(client, visitor, "chat", OLD_TEXT, version="3")
    assert stale.status_code == 409
    assert stale.json()["error"]["field"] == "version"
    current = await decide(client, visitor, "chat", NEW_TEXT, version="5")
    assert current.status_code == 201, current.text
    refusal_of_old = await decide(client, visitor, "chat", OLD_TEXT, "withdrawn", version="3")
    assert refusal_of_old.status_code == 201  # withdrawing what one agreed to stays possible


async def test_agents_cannot_test_an_email_address_through_search(
    world: World, client: httpx.AsyncClient
) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    agent = await world.headers(await world.operator("ben", Role.AGENT))
    key = (await client.post("/api/v1/api-keys", json={"name": "b"}, headers=admin)).json()["key"]
    visitor = await new_visitor(client)
    await start_chat(client, visitor, "Hello")
    identified = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "email": "carol@example.test"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert identified.status_code == 200, identified.text
    params = {"email": "carol@example.test"}
    refused = await client.get("/api/v1/search", params=params, headers=agent)
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "email"
    found = await client.get("/api/v1/search", params=params, headers=admin)
    assert found.status_code == 200 and len(found.json()["conversations"]) == 1


async def test_a_rating_score_must_be_a_number(world: World, client: httpx.AsyncClient) -> None:
    admin = await world.headers(await world.operator("ada", Role.ADMIN))
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Hello"))["conversation"]["id"]
    await client.post(f"/api/v1/conversations/{chat}/close", headers=admin)
    path = f"/api/v1/widget/conversations/{chat}/csat"
    for wrong in (True, "4", 4.5):
        response = await client.post(path, json={"score": wrong}, headers=visitor.headers)
        assert response.status_code == 422, wrong
        assert response.json()["error"]["field"] == "score"
    rated = await client.post(path, json={"score": 4}, headers=visitor.headers)
    assert rated.status_code == 200 and rated.json()["csat_score"] == 4
