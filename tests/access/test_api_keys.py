"""Per-workspace API keys: shown once, stored as keyed hashes, good for server calls only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import text

from confide.access.models import Role
from confide.models import metadata
from tests.conftest import Account, World

KEYS = "/api/v1/api-keys"
WORKSPACE = "/api/v1/workspace"


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _parts(key: str) -> tuple[str, str]:
    assert key.startswith("cfk_")
    prefix, _, secret = key.removeprefix("cfk_").partition("_")
    assert prefix and secret
    return prefix, secret


@pytest.fixture
async def admin(world: World) -> Account:
    return await world.operator("root", Role.ADMIN)


@pytest.fixture
async def admin_headers(world: World, admin: Account) -> dict[str, str]:
    return await world.headers(admin)


async def _create(world: World, headers: dict[str, str], name: str = "backend") -> dict[str, Any]:
    response = await world.client.post(KEYS, headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _table_dump(world: World) -> list[str]:
    """Every value of every column of every table, as text."""
    values: list[str] = []
    async with world.rt.db.session() as session:
        for table in metadata.sorted_tables:
            sql = f'SELECT * FROM "{table.name}"'  # noqa: S608 - names from our own metadata
            rows = (await session.execute(text(sql))).all()
            values.extend(str(v) for row in rows for v in row if v is not None)
    return values


async def test_admin_creates_a_key_and_sees_it_once(
    world: World, admin_headers: dict[str, str]
) -> None:
    created = await _create(world, admin_headers, "  CRM sync  ")
    prefix, secret = _parts(created["key"])
    assert len(secret) >= 32
    assert created["name"] == "CRM sync"
    assert created["prefix"] == prefix
    assert created["revoked_at"] is None and created["last_used_at"] is None

    listing = await world.client.get(KEYS, headers=admin_headers)
    assert listing.status_code == 200
    keys = listing.json()["api_keys"]
    assert len(keys) == 1
    assert keys[0]["id"] == created["id"] and keys[0]["prefix"] == prefix
    assert set(keys[0]) == {"id", "name", "prefix", "created_at", "last_used_at", "revoked_at"}
    assert secret not in listing.text
    assert created["key"] not in listing.text


async def test_two_keys_get_different_prefixes_and_secrets(
    world: World, admin_headers: dict[str, str]
) -> None:
    first = _parts((await _create(world, admin_headers, "one"))["key"])
    second = _parts((await _create(world, admin_headers, "two"))["key"])
    assert first[0] != second[0] and first[1] != second[1]


async def test_key_name_is_required(world: World, admin_headers: dict[str, str]) -> None:
    for body in ({"name": ""}, {"name": "   "}, {}, {"name": "x" * 101}):
        response = await world.client.post(KEYS, headers=admin_headers, json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await world.client.get(KEYS, headers=admin_headers)).json()["api_keys"] == []


async def test_key_authenticates_as_bearer(world: World, admin_headers: dict[str, str]) -> None:
    key = (await _create(world, admin_headers))["key"]
    response = await world.client.get(WORKSPACE, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["slug"] == "acme"
    assert body["id"] == str(world.workspaces["acme"])
    assert "settings" not in body  # a key reads the profile, not the security settings


async def test_key_authenticates_with_the_api_key_header(
    world: World, admin_headers: dict[str, str]
) -> None:
    key = (await _create(world, admin_headers))["key"]
    response = await world.client.get(WORKSPACE, headers={"X-Confide-Api-Key": key})
    assert response.status_code == 200, response.text
    assert response.json()["slug"] == "acme"


async def test_use_of_a_key_is_recorded(world: World, admin_headers: dict[str, str]) -> None:
    key = (await _create(world, admin_headers))["key"]
    await world.client.get(WORKSPACE, headers={"X-Confide-Api-Key": key})
    keys = (await world.client.get(KEYS, headers=admin_headers)).json()["api_keys"]
    assert keys[0]["last_used_at"] is not None


async def test_revoked_key_is_refused(world: World, admin_headers: dict[str, str]) -> None:
    created = await _create(world, admin_headers)
    key = created["key"]
    assert (
        await world.client.get(WORKSPACE, headers={"X-Confide-Api-Key": key})
    ).status_code == 200
    revoke = await world.client.delete(f"{KEYS}/{created['id']}", headers=admin_headers)
    assert revoke.status_code == 204, revoke.text
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Confide-Api-Key": key}):
        response = await world.client.get(WORKSPACE, headers=headers)
        assert response.status_code == 401, response.text
        assert _code(response) == "invalid_token"
        assert "acme" not in response.text
    listed = (await world.client.get(KEYS, headers=admin_headers)).json()["api_keys"]
    assert listed[0]["revoked_at"] is not None


async def test_key_with_a_wrong_secret_is_refused(
    world: World, admin_headers: dict[str, str]
) -> None:
    key = (await _create(world, admin_headers, "one"))["key"]
    other = (await _create(world, admin_headers, "two"))["key"]
    prefix, secret = _parts(key)
    _other_prefix, other_secret = _parts(other)
    for forged in (
        f"cfk_{prefix}_{'A' * len(secret)}",
        f"cfk_{prefix}_{secret[:-1]}",
        f"cfk_{prefix}_{secret}x",
        f"cfk_{prefix}_{other_secret}",  # another key's secret under this prefix
        f"cfk_{prefix}_",
        f"cfk_{prefix}",
        "cfk_",
        f"cfk_{'f' * 17}_{secret}",
    ):
        for headers in ({"Authorization": f"Bearer {forged}"}, {"X-Confide-Api-Key": forged}):
            response = await world.client.get(WORKSPACE, headers=headers)
            assert response.status_code == 401, (forged, response.text)
            assert _code(response) == "invalid_token"
    # The genuine key still works.
    assert (
        await world.client.get(WORKSPACE, headers={"X-Confide-Api-Key": key})
    ).status_code == 200


async def test_key_cannot_call_operator_endpoints(
    world: World, admin_headers: dict[str, str]
) -> None:
    key = (await _create(world, admin_headers))["key"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-Confide-Api-Key": key}):
        for method, path, body in (
            ("GET", "/api/v1/operators", None),
            ("GET", "/api/v1/me", None),
            ("GET", KEYS, None),
            ("POST", KEYS, {"name": "self-replicating"}),
            ("PATCH", WORKSPACE, {"mfa_required_for_admins": True}),
            ("GET", "/api/v1/groups", None),
        ):
            response = await world.client.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert _code(response) == "not_authenticated"
    listed = (await world.client.get(KEYS, headers=admin_headers)).json()["api_keys"]
    assert len(listed) == 1


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER, Role.ANALYST])
async def test_non_admins_cannot_create_or_list_keys(
    world: World, admin_headers: dict[str, str], role: Role
) -> None:
    someone = await world.operator("someone", role)
    headers = await world.headers(someone)
    created = await world.client.post(KEYS, headers=headers, json={"name": "mine"})
    assert created.status_code == 403, created.text
    assert _code(created) == "forbidden"
    assert "cfk_" not in created.text
    listed = await world.client.get(KEYS, headers=headers)
    assert listed.status_code == 403
    # Nor revoke the admin's key.
    key = await _create(world, admin_headers)
    revoke = await world.client.delete(f"{KEYS}/{key['id']}", headers=headers)
    assert revoke.status_code == 403
    keys = (await world.client.get(KEYS, headers=admin_headers)).json()["api_keys"]
    assert [k["name"] for k in keys] == ["backend"]
    assert keys[0]["revoked_at"] is None


async def test_database_never_contains_the_secret(
    world: World, admin_headers: dict[str, str]
) -> None:
    created = await _create(world, admin_headers)
    prefix, secret = _parts(created["key"])
    await world.client.get(WORKSPACE, headers={"X-Confide-Api-Key": created["key"]})
    async with world.rt.db.session() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert row["prefix"] == prefix  # the row really is this key's
    assert row["secret_hash"] == world.rt.tokens.hash_api_key_secret(secret)
    for column, value in row.items():
        assert secret not in str(value), column
        assert secret[:16] not in str(value), column
    # Nowhere else either.
    assert not any(secret[:16] in value for value in await _table_dump(world))
