"""Support access (issue 18): a platform support account sees nothing of a workspace until its
admin grants a scope; then exactly that scope, until the grant expires or is revoked, over
REST and on an already open WebSocket; every step audited and listed to the admins."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import websockets

from confide.access.support_access import do_record_grant_expiries
from confide.core import clock
from tests.access.custody_helpers import HOUR_SECONDS, actions, bearer, grant, make_team, token_of
from tests.chat.helpers import new_visitor, open_socket, start_chat
from tests.conftest import LiveServer, World


@pytest.fixture
async def team(world: World) -> dict[str, object]:
    return await make_team(world)


async def _two_chats(client: httpx.AsyncClient, group: object) -> tuple[str, str, object]:
    visitor = await new_visitor(client)
    one = await start_chat(client, visitor, "granted words", group_id=group)  # type: ignore[arg-type]
    other_visitor = await new_visitor(client)
    two = await start_chat(client, other_visitor, "private words", group_id=group)  # type: ignore[arg-type]
    return one["conversation"]["id"], two["conversation"]["id"], visitor


async def test_support_sees_nothing_without_a_grant(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    granted, _, _ = await _two_chats(client, team["group"])
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    assert (
        await client.get(f"/api/v1/conversations/{granted}/messages", headers=sam)
    ).status_code == 403
    assert (await client.get("/api/v1/workspace", headers=sam)).status_code in (403, 404)


async def test_conversation_grant_opens_exactly_that_conversation_until_it_expires(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    granted, other, _ = await _two_chats(client, team["group"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    made = await grant(client, admin, scope="conversation", conversation_id=granted, hours=2)
    assert made["status"] == "live" and made["grantee"] == "sam"
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]

    read = await client.get(f"/api/v1/conversations/{granted}/messages", headers=sam)
    assert read.status_code == 200, read.text
    assert [m["body"] for m in read.json()["messages"]] == ["granted words"]
    detail = (await client.get(f"/api/v1/conversations/{granted}", headers=sam)).json()
    assert detail["visitor"]["id"]  # pseudonymous: the id, never the identity
    assert detail["visitor"]["view"] == "pseudonymous" and set(detail["visitor"]) <= {"id", "view"}
    hidden = await client.get(f"/api/v1/conversations/{other}/messages", headers=sam)
    assert hidden.status_code == 404 and "private words" not in hidden.text
    listed = (await client.get("/api/v1/conversations", headers=sam)).json()["conversations"]
    assert [c["id"] for c in listed] == [granted]
    assert (await client.patch("/api/v1/workspace", json={}, headers=sam)).status_code == 403

    clock.advance(2 * HOUR_SECONDS + 1)
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]  # a fresh session
    after = await client.get(f"/api/v1/conversations/{granted}/messages", headers=sam)
    assert after.status_code == 403 and "granted words" not in after.text
    assert await do_record_grant_expiries(world.rt) == 1
    assert await do_record_grant_expiries(world.rt) == 0  # recorded once

    workspace_id = world.workspaces["acme"]
    log = await actions(world.rt, workspace_id)
    grant_resource = f"grant:{made['id']}"
    assert ("support_access.grant", team["ada"].id, grant_resource) in log  # type: ignore[attr-defined]
    assert ("conversation.messages_read", team["sam"].id, f"conversation:{granted}") in log  # type: ignore[attr-defined]
    assert ("support_access.expire", None, grant_resource) in log
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    listing = (await client.get("/api/v1/access-grants", headers=admin)).json()["grants"]
    assert listing[0]["id"] == made["id"] and listing[0]["status"] == "expired"
    assert {(r["action"], r["resource"]) for r in listing[0]["reads"]} == {
        ("conversation.messages_read", f"conversation:{granted}")
    }


async def test_read_only_grant_reads_every_conversation_but_writes_none(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    one, two, _ = await _two_chats(client, team["group"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await grant(client, admin, scope="conversations_read")
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    for conversation_id in (one, two):
        read = await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=sam)
        assert read.status_code == 200
    send = await client.post(
        f"/api/v1/conversations/{one}/messages",
        json={"client_id": "s1", "body": "hello from support"},
        headers=sam,
    )
    assert send.status_code == 404
    assert (await client.patch("/api/v1/workspace", json={}, headers=sam)).status_code == 403


async def test_settings_grant_opens_settings_and_no_conversation(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    one, _, _ = await _two_chats(client, team["group"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await grant(client, admin, scope="settings")
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    assert (await client.get("/api/v1/workspace", headers=sam)).status_code == 200
    read = await client.get(f"/api/v1/conversations/{one}/messages", headers=sam)
    assert read.status_code == 403


async def test_revocation_ends_access_at_once(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    one, _, _ = await _two_chats(client, team["group"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    made = await grant(client, admin, scope="conversations_read")
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    assert (await client.get(f"/api/v1/conversations/{one}", headers=sam)).status_code == 200
    revoked = await client.post(f"/api/v1/access-grants/{made['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (await client.get(f"/api/v1/conversations/{one}", headers=sam)).status_code == 403
    log = await actions(world.rt, world.workspaces["acme"])
    assert ("support_access.revoke", team["ada"].id, f"grant:{made['id']}") in log  # type: ignore[attr-defined]
    assert await do_record_grant_expiries(world.rt) == 0  # a revoked grant does not "expire"


async def test_only_an_admin_grants_and_support_cannot_grant_itself(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    agent = await world.headers(team["alice"])  # type: ignore[arg-type]
    body = {"support_username": "sam", "scope": "settings", "hours": 1, "reason": "help"}
    refused = await client.post("/api/v1/access-grants/support", json=body, headers=agent)
    assert refused.status_code == 403
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await grant(client, admin, scope="settings")
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    more = {**body, "scope": "conversations_read"}
    assert (
        await client.post("/api/v1/access-grants/support", json=more, headers=sam)
    ).status_code == 403
    assert (await client.get("/api/v1/access-grants", headers=sam)).status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"hours": 169}, "hours"),
        ({"reason": "  "}, "reason"),
        ({"support_username": "nobody"}, "support_username"),
        ({"scope": "conversation"}, "conversation_id"),
    ],
)
async def test_a_bad_grant_is_refused_naming_the_field(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    change: dict[str, object],
    field: str,
) -> None:
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    body = {"support_username": "sam", "scope": "settings", "hours": 1, "reason": "help", **change}
    response = await client.post("/api/v1/access-grants/support", json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


async def _sam_follows_for_an_hour(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    live_server: LiveServer,
    granted: str,
) -> Any:
    """Sam (support), granted ``granted`` for one hour, follows it on an open console socket."""
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await grant(client, admin, scope="conversation", conversation_id=granted, hours=1)
    token = await token_of(world, team["sam"])  # type: ignore[arg-type]
    sam = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await sam.send(type="subscribe", conversation_id=granted, since=0)
    await sam.recv_until(lambda f: f["type"] == "subscribed")
    return sam


async def test_expiry_closes_an_open_websocket_and_nothing_more_arrives(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    granted, _, visitor = await _two_chats(client, team["group"])
    sam = await _sam_follows_for_an_hour(world, client, team, live_server, granted)
    await client.post(
        f"/api/v1/widget/conversations/{granted}/messages",
        json={"client_id": "live-1", "body": "while granted"},
        headers=visitor.headers,  # type: ignore[attr-defined]
    )
    live = await sam.recv_until(lambda f: f["type"] == "message")
    assert live["body"] == "while granted"

    clock.advance(HOUR_SECONDS + 1)
    await client.post(
        f"/api/v1/widget/conversations/{granted}/messages",
        json={"client_id": "live-2", "body": "after expiry"},
        headers=visitor.headers,  # type: ignore[attr-defined]
    )
    seen: list[dict[str, object]] = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            seen.append(await sam.recv(timeout=5))
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert all("after expiry" not in str(frame) for frame in seen)


async def test_expiry_closes_an_idle_websocket_at_its_next_revalidation(
    world: World,
    client: httpx.AsyncClient,
    team: dict[str, object],
    live_server: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No event reaches the socket after the grant lapses: the socket's own timer wakes it.
    from confide.realtime import socket_access

    monkeypatch.setattr(socket_access, "REVALIDATE_SECONDS", 0.5)
    granted, _, _ = await _two_chats(client, team["group"])
    sam = await _sam_follows_for_an_hour(world, client, team, live_server, granted)
    clock.advance(HOUR_SECONDS + 1)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await sam.recv_until(lambda f: False, timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_revocation_closes_an_open_websocket(
    world: World, client: httpx.AsyncClient, team: dict[str, object], live_server: LiveServer
) -> None:
    granted, _, _ = await _two_chats(client, team["group"])
    admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    made = await grant(client, admin, scope="conversation", conversation_id=granted)
    token = await token_of(world, team["sam"])  # type: ignore[arg-type]
    sam = await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    await sam.send(type="subscribe", conversation_id=granted, since=0)
    await sam.recv_until(lambda f: f["type"] == "subscribed")
    await client.post(f"/api/v1/access-grants/{made['id']}/revoke", headers=admin)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await sam.recv_until(lambda f: False, timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_support_without_a_grant_cannot_open_a_console_socket(
    world: World, team: dict[str, object], live_server: LiveServer
) -> None:
    token = await token_of(world, team["sam"])  # type: ignore[arg-type]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await open_socket(f"{live_server.ws_url}/api/v1/ws/console", token=token)
    assert refused.value.response.status_code == 403


async def test_support_with_grants_in_two_workspaces_enters_the_one_it_names(
    world: World, client: httpx.AsyncClient, team: dict[str, object]
) -> None:
    from confide.access.models import Role

    acme_chat, _, _ = await _two_chats(client, team["group"])
    other_id = await world.workspace("globex")
    globex_admin = await world.headers(await world.operator("gia", Role.ADMIN, slug="globex"))
    acme_admin = await world.headers(team["ada"])  # type: ignore[arg-type]
    await grant(client, acme_admin, scope="conversations_read")
    await grant(client, globex_admin, scope="settings")
    sam = bearer(await token_of(world, team["sam"]))  # type: ignore[arg-type]
    # Grants in two workspaces and none named: no workspace is entered.
    plain = await client.get(f"/api/v1/conversations/{acme_chat}", headers=sam)
    assert plain.status_code == 403
    acme = {**sam, "X-Confide-Workspace": str(world.workspaces["acme"])}
    assert (await client.get(f"/api/v1/conversations/{acme_chat}", headers=acme)).status_code == 200
    assert (await client.patch("/api/v1/workspace", json={}, headers=acme)).status_code == 403
    globex = {**sam, "X-Confide-Workspace": str(other_id)}
    workspace = await client.get("/api/v1/workspace", headers=globex)
    assert workspace.status_code == 200 and workspace.json()["slug"] == "globex"
    assert (
        await client.get(f"/api/v1/conversations/{acme_chat}", headers=globex)
    ).status_code == 403
