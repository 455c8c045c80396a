"""Queues per group, round-robin to available agents, caps, transfer, close and reopen."""

from __future__ import annotations

import httpx
import pytest

from confide.access.models import Role
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


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
        "max": await world.operator("max", Role.MANAGER, groups=[support]),
        "ada": await world.operator("ada", Role.ADMIN),
    }


async def new_chat(client: httpx.AsyncClient, group: object) -> dict[str, object]:
    visitor = await new_visitor(client)
    return (await start_chat(client, visitor, "help", group_id=group))["conversation"]  # type: ignore[arg-type]


async def test_conversation_waits_in_its_group_queue_when_nobody_is_available(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    chat = await new_chat(client, team["support"])
    assert (chat["status"], chat["assignee_id"]) == ("waiting", None)
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    waiting = await client.get("/api/v1/conversations?status=waiting", headers=alice)
    assert [c["id"] for c in waiting.json()["conversations"]] == [chat["id"]]
    bob = await world.headers(team["bob"])  # type: ignore[arg-type]
    other_queue = await client.get("/api/v1/conversations?status=waiting", headers=bob)
    assert other_queue.json()["conversations"] == []


async def test_round_robin_alternates_between_available_agents(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    for name in ("alice", "carol"):
        headers = await world.headers(team[name])  # type: ignore[arg-type]
        response = await client.put(
            "/api/v1/me/presence", json={"availability": "available"}, headers=headers
        )
        assert response.status_code == 200
    assignees = [(await new_chat(client, team["support"]))["assignee_id"] for _ in range(4)]
    ids = {str(team["alice"].id), str(team["carol"].id)}  # type: ignore[attr-defined]
    assert set(assignees) == ids
    assert assignees[0] != assignees[1] and assignees[0] == assignees[2]
    assert assignees[1] == assignees[3]


async def test_cap_on_concurrent_chats_keeps_the_rest_waiting(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.put(
        "/api/v1/me/presence",
        json={"availability": "available", "max_concurrent_chats": 2},
        headers=alice,
    )
    assert response.status_code == 403  # agents cannot raise or lower their own cap
    assert response.json()["error"]["field"] == "max_concurrent_chats"
    response = await client.put(
        "/api/v1/me/presence", json={"availability": "available"}, headers=alice
    )
    assert response.status_code == 200
    assert response.json()["max_concurrent_chats"] == 5
    chats = [await new_chat(client, team["support"]) for _ in range(6)]
    statuses = [c["status"] for c in chats]
    assert statuses == ["open"] * 5 + ["waiting"]
    # Closing one frees a slot: the waiting conversation is handed over at once.
    closed = await client.post(f"/api/v1/conversations/{chats[0]['id']}/close", headers=alice)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    last = await client.get(f"/api/v1/conversations/{chats[5]['id']}", headers=alice)
    assert last.json()["status"] == "open"
    assert last.json()["assignee_id"] == str(team["alice"].id)  # type: ignore[attr-defined]


async def test_becoming_available_pulls_the_oldest_waiting_conversations(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    first = await new_chat(client, team["support"])
    second = await new_chat(client, team["support"])
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    await client.put("/api/v1/me/presence", json={"availability": "available"}, headers=alice)
    for chat in (first, second):
        detail = await client.get(f"/api/v1/conversations/{chat['id']}", headers=alice)
        assert detail.json()["assignee_id"] == str(team["alice"].id)  # type: ignore[attr-defined]


async def test_agent_takes_a_waiting_chat_by_answering_it(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    chat = await new_chat(client, team["support"])
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.post(
        f"/api/v1/conversations/{chat['id']}/messages",
        json={"client_id": "r1", "body": "I can help"},
        headers=alice,
    )
    assert response.status_code == 201
    detail = await client.get(f"/api/v1/conversations/{chat['id']}", headers=alice)
    assert detail.json()["status"] == "open"
    assert detail.json()["assignee_id"] == str(team["alice"].id)  # type: ignore[attr-defined]
    assert detail.json()["first_response_at"] is not None
    # Carol, in the same group, no longer sees it: it is Alice's now.
    carol = await world.headers(team["carol"])  # type: ignore[arg-type]
    hidden = await client.get(f"/api/v1/conversations/{chat['id']}", headers=carol)
    assert hidden.status_code == 404


async def test_transfer_to_another_group_requeues_and_changes_who_can_see_it(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    chat = await new_chat(client, team["support"])
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.post(
        f"/api/v1/conversations/{chat['id']}/transfer",
        json={"group_id": str(team["sales"])},
        headers=alice,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": chat["id"], "status": "waiting", "handed_over": True}
    assert (
        await client.get(f"/api/v1/conversations/{chat['id']}", headers=alice)
    ).status_code == 404
    bob = await world.headers(team["bob"])  # type: ignore[arg-type]
    moved = await client.get(f"/api/v1/conversations/{chat['id']}", headers=bob)
    assert moved.status_code == 200
    assert moved.json()["group_id"] == str(team["sales"])


async def test_agent_cannot_assign_to_someone_outside_the_conversations_group(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    chat = await new_chat(client, team["support"])
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.post(
        f"/api/v1/conversations/{chat['id']}/assign",
        json={"operator_id": str(team["bob"].id)},
        headers=alice,  # type: ignore[attr-defined]
    )
    assert response.status_code == 403
    assert response.json()["error"]["field"] == "operator_id"
    response = await client.post(
        f"/api/v1/conversations/{chat['id']}/assign",
        json={"operator_id": str(team["carol"].id)},
        headers=alice,  # type: ignore[attr-defined]
    )
    assert response.status_code == 200
    assert response.json() == {"id": chat["id"], "status": "open", "handed_over": True}
    carol = await world.headers(team["carol"])  # type: ignore[arg-type]
    mine = await client.get(f"/api/v1/conversations/{chat['id']}", headers=carol)
    assert mine.json()["assignee_id"] == str(team["carol"].id)  # type: ignore[attr-defined]


async def test_round_robin_request_without_available_agents_is_a_conflict(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    chat = await new_chat(client, team["support"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    response = await client.post(
        f"/api/v1/conversations/{chat['id']}/assign", json={}, headers=admin
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


async def test_close_reopen_and_rate(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "hi", group_id=team["support"]))["conversation"]  # type: ignore[arg-type]
    early = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/csat",
        json={"score": 5},
        headers=visitor.headers,
    )
    assert early.status_code == 409
    closed = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/close", headers=visitor.headers
    )
    assert closed.json()["status"] == "closed"
    rated = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/csat",
        json={"score": 4, "comment": "Quick and kind"},
        headers=visitor.headers,
    )
    assert rated.status_code == 200 and rated.json()["csat_score"] == 4
    again = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/csat",
        json={"score": 1},
        headers=visitor.headers,
    )
    assert again.status_code == 409
    bad = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/csat",
        json={"score": 6},
        headers=visitor.headers,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "score"
    late = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/messages",
        json={"client_id": "late", "body": "one more thing"},
        headers=visitor.headers,
    )
    assert late.status_code == 409
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    transcript = await client.get(f"/api/v1/conversations/{chat['id']}/messages", headers=admin)
    assert [(m["kind"], m["body"]) for m in transcript.json()["messages"]] == [
        ("text", "hi"),
        ("csat", "Quick and kind"),
    ]
    reopened = await client.post(f"/api/v1/conversations/{chat['id']}/reopen", headers=admin)
    assert reopened.status_code == 200 and reopened.json()["status"] == "waiting"
    visitor_reopen = await client.post(
        f"/api/v1/widget/conversations/{chat['id']}/close", headers=visitor.headers
    )
    assert visitor_reopen.status_code == 200


async def test_removing_an_agent_puts_their_open_chats_back_in_the_queue(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    await client.put("/api/v1/me/presence", json={"availability": "available"}, headers=alice)
    chat = await new_chat(client, team["support"])
    assert chat["assignee_id"] == str(team["alice"].id)  # type: ignore[attr-defined]
    carol = await world.headers(team["carol"])  # type: ignore[arg-type]
    await client.put("/api/v1/me/presence", json={"availability": "available"}, headers=carol)
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    removed = await client.delete(f"/api/v1/operators/{team['alice'].id}", headers=admin)  # type: ignore[attr-defined]
    assert removed.status_code == 204
    detail = await client.get(f"/api/v1/conversations/{chat['id']}", headers=admin)
    assert detail.json()["status"] == "open"
    assert detail.json()["assignee_id"] == str(team["carol"].id)  # type: ignore[attr-defined]
