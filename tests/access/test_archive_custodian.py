"""Archive custodians (issue 13): an archived conversation opens only to an operator an admin
appointed custodian, only on a filed reason, only until the opening expires; every opening
and read is audited and listed to the admins."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from confide.access.support_access import do_record_grant_expiries
from confide.chat.models import Message
from confide.core import clock
from tests.access.custody_helpers import (
    HOUR_SECONDS,
    actions,
    bearer,
    make_team,
    set_state,
    token_of,
)
from tests.chat.helpers import new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    return await make_team(world)


async def _archived(client: httpx.AsyncClient, group: object) -> str:
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "archived words", group_id=group)  # type: ignore[arg-type]
    conversation_id: str = chat["conversation"]["id"]
    return conversation_id


async def _texts_outside_the_archive(world: World, conversation_id: str) -> dict[object, str]:
    """What the live read path decrypts of the conversation, outside the custodian context."""
    async with world.rt.db.session() as session:
        ids = (
            await session.scalars(
                select(Message.id).where(Message.conversation_id == uuid.UUID(conversation_id))
            )
        ).all()
        return dict(await world.rt.vault.read_message_texts(session, ids))


async def _appoint(
    client: httpx.AsyncClient, admin: dict[str, str], operator: object, appointed: bool = True
) -> None:
    response = await client.put(
        f"/api/v1/operators/{operator.id}/archive-custodian",  # type: ignore[attr-defined]
        json={"archive_custodian": appointed},
        headers=admin,
    )
    assert response.status_code == 200, response.text


async def test_custodian_reads_an_archived_conversation_only_with_a_reason_until_expiry(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id = await _archived(client, team["group"])
    await set_state(world.rt, conversation_id, lifecycle="archived")
    # Its data key moves under the archive key: no live read path can open it any more.
    workspace_id = world.workspaces["acme"]
    assert await world.rt.keyring.archive_keys(str(workspace_id), [conversation_id]) == 1
    assert await _texts_outside_the_archive(world, conversation_id) == {}
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    messages = f"/api/v1/conversations/{conversation_id}/messages"
    opening = f"/api/v1/archive/conversations/{conversation_id}/open"

    # Not a custodian: no opening, whatever the reason.
    refused = await client.post(opening, json={"reason": "incident-restore"}, headers=alice)
    assert refused.status_code == 403
    await _appoint(client, admin, team["alice"])
    # A custodian without an opening sees nothing either.
    assert (await client.get(messages, headers=alice)).status_code == 404
    # No reason, an unknown reason, a requisition without its reference: refused by field.
    for body, field in (
        ({"reason": ""}, "reason"),
        ({"reason": "curiosity"}, "reason"),
        ({"reason": "legal-requisition"}, "reference"),
        ({"reason": "incident-restore", "hours": 169}, "hours"),
    ):
        response = await client.post(opening, json=body, headers=alice)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field
    assert (await client.get(messages, headers=alice)).status_code == 404

    opened = await client.post(
        opening,
        json={"reason": "legal-requisition", "reference": "REQ-2026-0042", "hours": 3},
        headers=alice,
    )
    assert opened.status_code == 201, opened.text
    read = await client.get(messages, headers=alice)
    assert read.status_code == 200
    assert [m["body"] for m in read.json()["messages"]] == ["archived words"]
    # Read-only: the archive is not worked.
    send = await client.post(messages, json={"client_id": "c1", "body": "reply"}, headers=alice)
    assert send.status_code == 404
    # Nobody else gains anything: the admin still does not see it.
    assert (await client.get(messages, headers=admin)).status_code == 404

    clock.advance(3 * HOUR_SECONDS + 1)
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    after = await client.get(messages, headers=alice)
    assert after.status_code == 404 and "archived words" not in after.text
    assert await do_record_grant_expiries(world.rt) == 1

    log = await actions(world.rt, world.workspaces["acme"])
    alice_id = team["alice"].id  # type: ignore[attr-defined]
    assert ("archive_custodian.appoint", team["ada"].id, f"operator:{alice_id}") in log  # type: ignore[attr-defined]
    assert ("archive.open", alice_id, f"conversation:{conversation_id}") in log
    assert ("conversation.messages_read", alice_id, f"conversation:{conversation_id}") in log
    assert ("archive.expire", None, f"grant:{opened.json()['id']}") in log
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    listing = (await client.get("/api/v1/access-grants", headers=admin)).json()["grants"]
    [entry] = [g for g in listing if g["id"] == opened.json()["id"]]
    assert entry["kind"] == "archive_custodian" and entry["reference"] == "REQ-2026-0042"
    assert entry["status"] == "expired" and entry["grantee"] == "alice"
    assert ("conversation.messages_read", f"conversation:{conversation_id}") in {
        (r["action"], r["resource"]) for r in entry["reads"]
    }


async def test_an_active_conversation_cannot_be_opened_through_the_archive(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id = await _archived(client, team["group"])  # left active
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await _appoint(client, admin, team["ada"])
    response = await client.post(
        f"/api/v1/archive/conversations/{conversation_id}/open",
        json={"reason": "incident-restore"},
        headers=admin,
    )
    assert response.status_code == 404


async def test_revoking_an_opening_closes_the_archive_and_dismissal_stops_new_ones(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    conversation_id = await _archived(client, team["group"])
    await set_state(world.rt, conversation_id, lifecycle="archived")
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    await _appoint(client, admin, team["alice"])
    opening = f"/api/v1/archive/conversations/{conversation_id}/open"
    opened = (await client.post(opening, json={"reason": "incident-restore"}, headers=alice)).json()
    messages = f"/api/v1/conversations/{conversation_id}/messages"
    assert (await client.get(messages, headers=alice)).status_code == 200
    revoked = await client.post(f"/api/v1/access-grants/{opened['id']}/revoke", headers=admin)
    assert revoked.status_code == 200
    assert (await client.get(messages, headers=alice)).status_code == 404
    await _appoint(client, admin, team["alice"], appointed=False)
    again = await client.post(opening, json={"reason": "incident-restore"}, headers=alice)
    assert again.status_code == 403
    log = await actions(world.rt, world.workspaces["acme"])
    assert ("archive.close", team["ada"].id, f"grant:{opened['id']}") in log  # type: ignore[attr-defined]
    assert any(a == "archive_custodian.dismiss" for a, _, _ in log)


async def test_only_admins_appoint_custodians(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    alice = await world.headers(team["alice"])  # type: ignore[arg-type]
    response = await client.put(
        f"/api/v1/operators/{team['alice'].id}/archive-custodian",  # type: ignore[attr-defined]
        json={"archive_custodian": True},
        headers=alice,
    )
    assert response.status_code == 403
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    support = await client.put(
        f"/api/v1/operators/{team['sam'].id}/archive-custodian",  # type: ignore[attr-defined]
        json={"archive_custodian": True},
        headers=admin,
    )
    assert support.status_code == 404


async def test_revoking_an_opening_unsubscribes_the_custodians_open_socket(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    conversation_id = await _archived(client, team["group"])
    await set_state(world.rt, conversation_id, lifecycle="archived")
    assert await world.rt.keyring.archive_keys(str(world.workspaces["acme"]), [conversation_id])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await _appoint(client, admin, team["alice"])
    token = await token_of(world, team["alice"])  # type: ignore[arg-type]
    opened = await client.post(
        f"/api/v1/archive/conversations/{conversation_id}/open",
        json={"reason": "incident-restore"},
        headers=bearer(token),
    )
    assert opened.status_code == 201
    alice = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await alice.send(type="subscribe", conversation_id=conversation_id, since=0)
    backlog = await alice.recv_until(lambda f: f["type"] == "message")
    assert backlog["body"] == "archived words"  # opened through the archive key
    await alice.recv_until(lambda f: f["type"] == "subscribed")
    await client.post(f"/api/v1/access-grants/{opened.json()['id']}/revoke", headers=admin)
    dropped = await alice.recv_until(lambda f: f["type"] == "unsubscribed")
    assert dropped["conversation_id"] == conversation_id
    await alice.send(type="subscribe", conversation_id=conversation_id, since=0)
    refused = await alice.recv_until(lambda f: f["type"] == "error")
    assert refused["code"] == "not_found"
    await alice.close()
