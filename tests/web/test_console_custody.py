"""The admins' console pages for support access, archive custodians and legal holds: forms
call the API's handlers, refused fields are shown next to the field, and others never see
the pages."""

from __future__ import annotations

import httpx
import pytest

from confide.access.models import Role
from tests.access.custody_helpers import make_team, set_state
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.web.helpers import post_form, sign_in

ACCESS = "/console/settings/access"
HOLDS = "/console/settings/legal-holds"


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    return await make_team(world)


async def test_admin_grants_lists_and_revokes_support_access(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    await sign_in(world, team["ada"])  # type: ignore[arg-type]
    refused = await post_form(
        client,
        ACCESS,
        ACCESS,
        {"support_username": "sam", "scope": "settings", "hours": "200", "reason": "help"},
    )
    assert refused.status_code == 422
    assert 'id="err-hours"' in refused.text
    granted = await post_form(
        client,
        ACCESS,
        ACCESS,
        {"support_username": "sam", "scope": "settings", "hours": "3", "reason": "Ticket 99"},
    )
    assert granted.status_code == 303, granted.text
    page = (await client.get(ACCESS)).text
    assert "Ticket 99" in page and "live" in page and "Revoke" in page
    grant_id = page.split("/console/settings/access/")[1].split("/revoke")[0]
    revoked = await post_form(client, ACCESS, f"{ACCESS}/{grant_id}/revoke", {})
    assert revoked.status_code == 303
    page = (await client.get(ACCESS)).text
    assert "revoked" in page


async def test_admin_appoints_a_custodian_and_sees_the_opening_with_its_reads(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "old words", group_id=team["group"])  # type: ignore[arg-type]
    conversation_id = chat["conversation"]["id"]
    await set_state(world.rt, conversation_id, lifecycle="archived")
    await sign_in(world, team["ada"])  # type: ignore[arg-type]
    alice_id = team["alice"].id  # type: ignore[attr-defined]
    appointed = await post_form(
        client, ACCESS, f"{ACCESS}/custodians/{alice_id}", {"archive_custodian": "1"}
    )
    assert appointed.status_code == 303
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    opened = await client.post(
        f"/api/v1/archive/conversations/{conversation_id}/open",
        json={"reason": "incident-restore"},
        headers=alice,
    )
    assert opened.status_code == 201
    await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=alice)
    page = (await client.get(ACCESS)).text
    assert "Archive opening" in page and "incident-restore" in page
    assert "conversation.messages_read" in page
    assert "old words" not in page


async def test_admin_places_and_lifts_a_hold(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    await sign_in(world, team["ada"])  # type: ignore[arg-type]
    refused = await post_form(
        client, HOLDS, HOLDS, {"target": "filter", "channel": "fax", "reason": "x"}
    )
    assert refused.status_code == 422 and 'id="err-filter.channel"' in refused.text
    placed = await post_form(
        client, HOLDS, HOLDS, {"target": "filter", "channel": "web", "reason": "Inquiry 5"}
    )
    assert placed.status_code == 303, placed.text
    page = (await client.get(HOLDS)).text
    assert "Inquiry 5" in page and "active" in page
    hold_id = page.split("/console/settings/legal-holds/")[1].split("/lift")[0]
    lifted = await post_form(client, HOLDS, f"{HOLDS}/{hold_id}/lift", {"reason": "Closed"})
    assert lifted.status_code == 303
    assert "lifted: Closed" in (await client.get(HOLDS)).text


async def test_the_pages_are_for_admins_only(world: World, client: httpx.AsyncClient) -> None:
    manager = await world.operator("mia", Role.MANAGER)
    await sign_in(world, manager)
    for path in (ACCESS, HOLDS):
        response = await client.get(path)
        assert response.status_code in (403, 303), path
        assert "Grant access" not in response.text and "Place hold" not in response.text
