"""A visitor has one open chat a channel at a time: starting again answers the open one (200)
instead of adding an empty chat to the agents' inbox; once it is closed, a new one starts."""

from __future__ import annotations

import httpx
import pytest

from confide.access.models import Role
from confide.chat.models import Conversation
from confide.core.config import Settings
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor
from tests.conftest import World
from tests.privacy.helpers import count_rows

START = "/api/v1/widget/conversations"


@pytest.fixture
async def admin(world: World) -> dict[str, str]:
    await world.group("Support")
    return await world.headers(await world.operator("ada", Role.ADMIN))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"conversations_per_ip_per_hour": 1000, "conversations_per_visitor_per_hour": 3}
    )


async def test_starting_again_answers_the_open_conversation(
    client: httpx.AsyncClient, rt: Runtime, admin: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    first = await client.post(START, json={}, headers=visitor.headers)
    assert first.status_code == 201, first.text
    cid = first.json()["conversation"]["id"]
    for _ in range(14):
        again = await client.post(START, json={}, headers=visitor.headers)
        assert again.status_code == 200, again.text
        assert again.json()["conversation"]["id"] == cid
    assert await count_rows(rt, Conversation.__tablename__) == 1
    # The widget's first message, sent again after a reload lost the conversation id, joins it.
    with_text = await client.post(
        START,
        json={"message": {"client_id": "c1", "body": "Still there?"}},
        headers=visitor.headers,
    )
    assert with_text.status_code == 200, with_text.text
    assert with_text.json()["conversation"]["id"] == cid
    assert with_text.json()["message"]["seq"] == 1
    listed = await client.get(f"{START}/{cid}/messages", headers=visitor.headers)
    assert [m["body"] for m in listed.json()["messages"]] == ["Still there?"]
    inbox = await client.get("/api/v1/conversations", headers=admin)
    assert [c["id"] for c in inbox.json()["conversations"]] == [cid]


async def test_after_closing_a_new_conversation_starts(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    first = (await client.post(START, json={}, headers=visitor.headers)).json()["conversation"]
    closed = await client.post(f"{START}/{first['id']}/close", headers=visitor.headers)
    assert closed.status_code == 200, closed.text
    second = await client.post(START, json={}, headers=visitor.headers)
    assert second.status_code == 201, second.text
    assert second.json()["conversation"]["id"] != first["id"]
    # An operator closing it frees the visitor too.
    cid = second.json()["conversation"]["id"]
    assert (await client.post(f"/api/v1/conversations/{cid}/close", headers=admin)).is_success
    third = await client.post(START, json={}, headers=visitor.headers)
    assert third.status_code == 201 and third.json()["conversation"]["id"] not in (
        first["id"],
        cid,
    )


async def test_each_visitor_has_their_own(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    one, two = await new_visitor(client), await new_visitor(client)
    a = await client.post(START, json={}, headers=one.headers)
    b = await client.post(START, json={}, headers=two.headers)
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["conversation"]["id"] != b.json()["conversation"]["id"]


async def test_new_chats_of_one_visitor_are_rate_limited(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    codes = []
    for _ in range(4):
        response = await client.post(START, json={}, headers=visitor.headers)
        codes.append(response.status_code)
        if response.status_code == 201:
            cid = response.json()["conversation"]["id"]
            await client.post(f"{START}/{cid}/close", headers=visitor.headers)
    assert codes == [201, 201, 201, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"
    # Answering the open one is not a new chat: it is not counted.
    other = await new_visitor(client)
    started = [
        (await client.post(START, json={}, headers=other.headers)).status_code for _ in range(5)
    ]
    assert started == [201, 200, 200, 200, 200]


async def test_a_bad_start_is_a_json_4xx_naming_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    await client.post(START, json={}, headers=visitor.headers)
    bad = await client.post(
        START, json={"message": {"client_id": "c2", "body": "   "}}, headers=visitor.headers
    )
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/json")
    assert bad.json()["error"]["field"].startswith("message")
    wrong_group = await client.post(START, json={"group_id": "nope"}, headers=visitor.headers)
    assert wrong_group.status_code == 422, wrong_group.text
    assert wrong_group.json()["error"]["field"] == "group_id"
