"""Rate limits answer 429 with Retry-After instead of failing or slowing everyone down."""

from __future__ import annotations

import httpx
import pytest

from confide.access.models import Role
from confide.core.config import Settings
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World


@pytest.fixture
async def admin_headers(world: World) -> dict[str, str]:
    await world.group("Support")
    return await world.headers(await world.operator("ada", Role.ADMIN))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"visitor_messages_per_minute": 5, "conversations_per_ip_per_hour": 3}
    )


async def test_visitor_sending_too_fast_gets_429_with_retry_after(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, None)
    statuses = []
    for i in range(7):
        response = await client.post(
            f"/api/v1/widget/conversations/{chat['conversation']['id']}/messages",
            json={"client_id": f"m{i}", "body": "spam"},
            headers=visitor.headers,
        )
        statuses.append(response.status_code)
    assert statuses == [201] * 5 + [429, 429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["error"]["code"] == "rate_limited"


async def test_too_many_new_chats_from_one_address_gets_429(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    visitor = await new_visitor(client)
    codes = []
    for _ in range(4):
        response = await client.post(
            "/api/v1/widget/conversations", json={}, headers=visitor.headers
        )
        codes.append(response.status_code)
        if response.status_code == 201:  # one open chat at a time: end it to start another
            cid = response.json()["conversation"]["id"]
            await client.post(f"/api/v1/widget/conversations/{cid}/close", headers=visitor.headers)
    assert codes == [201, 201, 201, 429]
