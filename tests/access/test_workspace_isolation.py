"""Two customers on one server: nothing of one workspace is reachable from the other.

Resources of another workspace answer exactly like ids that do not exist (404), so their
existence is not revealed either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from confide.access.models import Role
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import Account, World

OPERATORS = "/api/v1/operators"
GROUPS = "/api/v1/groups"
API_KEYS = "/api/v1/api-keys"
NOT_FOUND = {
    "error": {
        "code": "not_found",
        "message": "Nothing exists at this address, or you may not see it.",
        "field": None,
    }
}


@dataclass
class Tenant:
    slug: str
    workspace_id: uuid.UUID
    sales: uuid.UUID
    admin: Account
    agent: Account
    headers: dict[str, str]
    api_key: str
    api_key_id: str


async def _tenant(world: World, slug: str, agent_name: str) -> Tenant:
    workspace_id = await world.workspace(slug)
    # Same group name and same admin username in both workspaces, on purpose.
    sales = await world.group("Sales", slug)
    admin = await world.operator(
        "root", Role.ADMIN, slug=slug, name=f"{slug} admin", email=f"root@{slug}.test"
    )
    agent = await world.operator(
        agent_name,
        Role.AGENT,
        slug=slug,
        groups=[sales],
        name=f"{agent_name.title()} Example",
        email=f"{agent_name}@{slug}.test",
    )
    headers = await world.headers(admin)
    created = await world.client.post(API_KEYS, headers=headers, json={"name": f"{slug} backend"})
    assert created.status_code == 201, created.text
    return Tenant(
        slug,
        workspace_id,
        sales,
        admin,
        agent,
        headers,
        created.json()["key"],
        created.json()["id"],
    )


@pytest.fixture
async def acme(world: World) -> Tenant:
    return await _tenant(world, "acme", "alice")


@pytest.fixture
async def globex(world: World, acme: Tenant) -> Tenant:
    return await _tenant(world, "globex", "gina")


def _not_found(response: httpx.Response, like: httpx.Response | None = None) -> None:
    """A 404 that says no more than the answer for an id that exists nowhere."""
    assert response.status_code == 404, response.text
    assert response.json() == (like.json() if like is not None else NOT_FOUND)


async def _operator(client: httpx.AsyncClient, tenant: Tenant, operator_id: uuid.UUID) -> Any:
    response = await client.get(f"{OPERATORS}/{operator_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_admin_never_sees_operators_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    response = await client.get(OPERATORS, headers=acme.headers)
    assert response.status_code == 200
    ids = {o["id"] for o in response.json()["operators"]}
    assert ids == {str(acme.admin.id), str(acme.agent.id)}
    assert str(globex.admin.id) not in response.text
    assert str(globex.agent.id) not in response.text
    assert "globex" not in response.text
    assert "gina" not in response.text

    theirs = await client.get(OPERATORS, headers=globex.headers)
    assert {o["id"] for o in theirs.json()["operators"]} == {
        str(globex.admin.id),
        str(globex.agent.id),
    }


async def test_admin_gets_not_found_reading_an_operator_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    for target in (globex.agent.id, globex.admin.id):
        _not_found(await client.get(f"{OPERATORS}/{target}", headers=acme.headers))
    # Identical to an id that exists nowhere.
    _not_found(await client.get(f"{OPERATORS}/{uuid.uuid4()}", headers=acme.headers))


async def test_admin_cannot_edit_an_operator_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    path = f"{OPERATORS}/{globex.agent.id}"
    for body in (
        {"name": "Hijacked"},
        {"role": "admin"},
        {"group_ids": [str(acme.sales)]},
        {"group_ids": []},
    ):
        _not_found(await client.patch(path, headers=acme.headers, json=body))
    gina = await _operator(client, globex, globex.agent.id)
    assert gina["role"] == "agent"
    assert gina["name"] == "Gina Example"
    assert gina["group_ids"] == [str(globex.sales)]


async def test_admin_cannot_remove_or_unlock_an_operator_of_another_workspace(
    world: World, client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    _not_found(await client.delete(f"{OPERATORS}/{globex.agent.id}", headers=acme.headers))
    _not_found(await client.delete(f"{OPERATORS}/{globex.admin.id}", headers=acme.headers))
    _not_found(await client.post(f"{OPERATORS}/{globex.agent.id}/unlock", headers=acme.headers))
    await _operator(client, globex, globex.agent.id)
    assert (await world.login(globex.agent)).status_code == 200


async def test_globex_group_cannot_be_put_into_an_acme_operator(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    update = await client.patch(
        f"{OPERATORS}/{acme.agent.id}",
        headers=acme.headers,
        json={"group_ids": [str(acme.sales), str(globex.sales)]},
    )
    assert update.status_code == 422, update.text
    assert update.json()["error"]["field"] == "group_ids"
    assert update.json()["error"]["code"] == "validation_failed"
    alice = await _operator(client, acme, acme.agent.id)
    assert alice["group_ids"] == [str(acme.sales)]

    create = await client.post(
        OPERATORS,
        headers=acme.headers,
        json={
            "username": "mole",
            "password": "a long enough passphrase",
            "role": "agent",
            "group_ids": [str(globex.sales)],
        },
    )
    assert create.status_code == 422, create.text
    assert create.json()["error"]["field"] == "group_ids"
    usernames = {
        o["username"]
        for o in (await client.get(OPERATORS, headers=acme.headers)).json()["operators"]
    }
    assert "mole" not in usernames
    # Globex's group did not gain a member.
    groups = (await client.get(GROUPS, headers=globex.headers)).json()["groups"]
    assert [g["member_count"] for g in groups] == [1]


async def test_acme_manager_cannot_put_a_globex_group_into_an_agent(
    world: World, client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    manager = await world.operator("mia", Role.MANAGER, groups=[acme.sales])
    headers = await world.headers(manager)
    response = await client.patch(
        f"{OPERATORS}/{acme.agent.id}",
        headers=headers,
        json={"group_ids": [str(acme.sales), str(globex.sales)]},
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["field"] == "group_ids"
    assert (await _operator(client, acme, acme.agent.id))["group_ids"] == [str(acme.sales)]


async def test_admin_cannot_rename_or_delete_a_group_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    path = f"{GROUPS}/{globex.sales}"
    _not_found(await client.patch(path, headers=acme.headers, json={"name": "Pwned"}))
    _not_found(await client.delete(path, headers=acme.headers))
    groups = (await client.get(GROUPS, headers=globex.headers)).json()["groups"]
    assert [(g["id"], g["name"]) for g in groups] == [(str(globex.sales), "Sales")]
    assert (await _operator(client, globex, globex.agent.id))["group_ids"] == [str(globex.sales)]


async def test_group_lists_stay_within_the_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    mine = (await client.get(GROUPS, headers=acme.headers)).json()["groups"]
    assert [g["id"] for g in mine] == [str(acme.sales)]
    # A group of the same name in another workspace is independent.
    renamed = await client.patch(
        f"{GROUPS}/{acme.sales}", headers=acme.headers, json={"name": "Sales EU"}
    )
    assert renamed.status_code == 200
    theirs = (await client.get(GROUPS, headers=globex.headers)).json()["groups"]
    assert [g["name"] for g in theirs] == ["Sales"]


async def test_admin_cannot_revoke_an_api_key_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    _not_found(await client.delete(f"{API_KEYS}/{globex.api_key_id}", headers=acme.headers))
    listed = (await client.get(API_KEYS, headers=acme.headers)).json()["api_keys"]
    assert [k["id"] for k in listed] == [acme.api_key_id]
    assert globex.api_key_id not in str(listed)
    # The globex key still works.
    workspace = await client.get(
        "/api/v1/workspace", headers={"Authorization": f"Bearer {globex.api_key}"}
    )
    assert workspace.status_code == 200
    assert workspace.json()["slug"] == "globex"
    theirs = (await client.get(API_KEYS, headers=globex.headers)).json()["api_keys"]
    assert theirs[0]["revoked_at"] is None


async def test_api_key_reads_only_its_own_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    for headers in (
        {"Authorization": f"Bearer {acme.api_key}"},
        {"X-Confide-Api-Key": acme.api_key},
    ):
        response = await client.get("/api/v1/workspace", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == str(acme.workspace_id)
        assert body["slug"] == "acme"
        assert "settings" not in body  # an API key does not see the security settings
        assert str(globex.workspace_id) not in response.text
        assert "globex" not in response.text.lower()


async def test_api_key_cannot_list_operators_or_groups_of_any_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    headers = {"Authorization": f"Bearer {acme.api_key}"}
    for path in (OPERATORS, f"{OPERATORS}/{globex.agent.id}", f"{OPERATORS}/{acme.agent.id}"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, response.text
        assert "gina" not in response.text and "alice" not in response.text
    assert (await client.get(GROUPS, headers=headers)).status_code == 401


async def test_admin_gets_not_found_for_a_conversation_of_another_workspace(
    client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    visitor = await new_visitor(client, "globex")
    chat = await start_chat(client, visitor, "globex private words", group_id=globex.sales)
    conversation_id = chat["conversation"]["id"]
    for suffix in ("", "/messages"):
        response = await client.get(
            f"/api/v1/conversations/{conversation_id}{suffix}", headers=acme.headers
        )
        nowhere = await client.get(
            f"/api/v1/conversations/{uuid.uuid4()}{suffix}", headers=acme.headers
        )
        _not_found(response, like=nowhere)
    send = await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        headers=acme.headers,
        json={"client_id": "x1", "body": "injected"},
    )
    assert send.status_code == 404
    for action in ("assign", "close"):
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/{action}", headers=acme.headers, json={}
        )
        assert response.status_code == 404, (action, response.text)
    listed = await client.get("/api/v1/conversations", headers=acme.headers)
    assert listed.status_code == 200
    assert conversation_id not in listed.text
    assert "globex private words" not in listed.text
    own = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=globex.headers
    )
    assert own.status_code == 200
    assert [m["body"] for m in own.json()["messages"]] == ["globex private words"]
    assert own.json()["messages"] and "injected" not in own.text


async def test_same_username_in_two_workspaces_signs_in_to_the_right_one(
    world: World, client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    assert acme.admin.username == globex.admin.username == "root"
    assert acme.admin.id != globex.admin.id
    for tenant in (acme, globex):
        login = await world.login(tenant.admin)
        assert login.status_code == 200, login.text
        me = await client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["id"] == str(tenant.admin.id)
        assert me.json()["workspace_id"] == str(tenant.workspace_id)
        assert me.json()["email"] == f"root@{tenant.slug}.test"


async def test_same_username_with_different_passwords_signs_in_only_where_it_matches(
    world: World, client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    new_password = "only valid for globex 77"
    created = await client.post(
        OPERATORS,
        headers=globex.headers,
        json={"username": "alice", "password": new_password, "role": "agent"},
    )
    assert created.status_code == 201, created.text  # acme's alice does not block it
    globex_alice = Account(uuid.UUID(created.json()["id"]), "globex", "alice", new_password)
    wrong_place = Account(acme.agent.id, "acme", "alice", new_password)
    assert (await world.login(wrong_place)).status_code == 401
    login = await world.login(globex_alice)
    assert login.status_code == 200
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.json()["id"] == created.json()["id"]
    assert me.json()["workspace_id"] == str(globex.workspace_id)
    # No workspace at all means a platform support account: neither alice is one.
    no_workspace = await client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": new_password}
    )
    assert no_workspace.status_code == 401


async def test_operator_of_one_workspace_cannot_reach_the_other_with_their_token(
    world: World, client: httpx.AsyncClient, acme: Tenant, globex: Tenant
) -> None:
    gina = await world.headers(globex.agent)
    _not_found(await client.get(f"{OPERATORS}/{acme.agent.id}", headers=gina))
    _not_found(await client.get(f"{OPERATORS}/{acme.admin.id}", headers=gina))
    workspace = await client.get("/api/v1/workspace", headers=gina)
    assert workspace.json()["slug"] == "globex"
