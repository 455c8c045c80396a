"""Legal holds (issue 13): a hold on a conversation, a subject or a filter blocks erasure with
``LegalHold`` (409) inside the erasure's own transaction; lifting it is audited and lets the
erasure proceed; ``conversations.held`` follows the active holds."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from confide.chat.models import Conversation
from confide.privacy.erasure import held_conversation_ids
from tests.access.custody_helpers import actions, make_team
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    return await make_team(world)


async def _chat(client: httpx.AsyncClient) -> tuple[str, str]:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "keep me")
    return chat["conversation"]["id"], chat["conversation"]["visitor_id"]


async def _held(world: World, conversation_id: str) -> bool:
    async with world.rt.db.session() as session:
        return bool(
            await session.scalar(
                select(Conversation.held).where(Conversation.id == uuid.UUID(conversation_id))
            )
        )


async def test_a_held_conversation_blocks_erasure_until_the_hold_is_lifted(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id, visitor_id = await _chat(client)
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    placed = await client.post(
        "/api/v1/legal-holds",
        json={"target": "conversation", "conversation_id": conversation_id, "reason": "Case 12"},
        headers=admin,
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["held_now"] == 1 and await _held(world, conversation_id)

    erase = await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert erase.status_code == 409 and erase.json()["error"]["code"] == "legal_hold"
    assert await _held(world, conversation_id)  # nothing was destroyed

    lifted = await client.post(
        f"/api/v1/legal-holds/{placed.json()['id']}/lift",
        json={"reason": "Case 12 settled"},
        headers=admin,
    )
    assert lifted.status_code == 200 and lifted.json()["released"] == 1
    assert not await _held(world, conversation_id)
    again = await client.post(
        f"/api/v1/legal-holds/{placed.json()['id']}/lift", json={"reason": "x"}, headers=admin
    )
    assert again.status_code == 409
    log = await actions(world.rt, world.workspaces["acme"])
    hold = f"legal_hold:{placed.json()['id']}"
    assert ("legal_hold.place", team["ada"].id, hold) in log  # type: ignore[attr-defined]
    assert ("legal_hold.lift", team["ada"].id, hold) in log  # type: ignore[attr-defined]

    erased = await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert erased.status_code == 200, erased.text


async def test_a_subject_hold_blocks_erasure_of_the_person(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    _, visitor_id = await _chat(client)
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    placed = await client.post(
        "/api/v1/legal-holds",
        json={"target": "subject", "visitor_id": visitor_id, "reason": "Litigation 7"},
        headers=admin,
    )
    assert placed.status_code == 201
    erase = await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert erase.status_code == 409 and erase.json()["error"]["code"] == "legal_hold"


async def test_a_filter_hold_covers_conversations_created_after_it(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    placed = await client.post(
        "/api/v1/legal-holds",
        json={"target": "filter", "filter": {"channel": "web"}, "reason": "Regulator inquiry"},
        headers=admin,
    )
    assert placed.status_code == 201, placed.text
    conversation_id, visitor_id = await _chat(client)
    async with world.rt.db.transaction() as tx:
        held = await held_conversation_ids(tx, [uuid.UUID(conversation_id)])
    assert held == {uuid.UUID(conversation_id)}
    erase = await client.post(f"/api/v1/visitors/{visitor_id}/erase", headers=admin)
    assert erase.status_code == 409


async def test_lifting_one_of_two_holds_keeps_the_conversation_held(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id, visitor_id = await _chat(client)
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    first = await client.post(
        "/api/v1/legal-holds",
        json={"target": "conversation", "conversation_id": conversation_id, "reason": "A"},
        headers=admin,
    )
    await client.post(
        "/api/v1/legal-holds",
        json={"target": "subject", "visitor_id": visitor_id, "reason": "B"},
        headers=admin,
    )
    lifted = await client.post(
        f"/api/v1/legal-holds/{first.json()['id']}/lift", json={"reason": "done"}, headers=admin
    )
    assert lifted.json()["released"] == 0
    assert await _held(world, conversation_id)
    listed = (await client.get("/api/v1/legal-holds", headers=admin)).json()["holds"]
    assert [h["active"] for h in listed] == [True, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target": "conversation", "reason": "x"}, "conversation_id"),
        ({"target": "subject", "reason": "x"}, "visitor_id"),
        ({"target": "filter", "reason": "x", "filter": {}}, "filter"),
        ({"target": "filter", "reason": "x", "filter": {"channel": "fax"}}, "filter.channel"),
        ({"target": "filter", "reason": " ", "filter": {"channel": "web"}}, "reason"),
    ],
)
async def test_a_bad_hold_is_refused_naming_the_field(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    body: dict[str, object],
    field: str,
) -> None:
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    response = await client.post("/api/v1/legal-holds", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def test_only_admins_place_holds(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id, _ = await _chat(client)
    agent = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.post(
        "/api/v1/legal-holds",
        json={"target": "conversation", "conversation_id": conversation_id, "reason": "x"},
        headers=agent,
    )
    assert response.status_code == 403
