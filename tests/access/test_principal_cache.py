"""The per-process cache of principals never outlives a change: a revoked session, a new role,
new groups or a workspace's MFA rule apply to the next request on the node that made the
change, and on another node as soon as the broker delivers the invalidation."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta

import httpx
import pytest

from confide.access import auth
from confide.access.groups import do_delete_group
from confide.access.models import Role
from confide.access.operators import do_remove_operator, do_update_operator
from confide.access.workspaces import do_update_workspace_settings
from confide.api.app import create_app
from confide.core.clock import utcnow
from confide.runtime import Runtime
from tests.conftest import Account, World


async def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.get("/api/v1/me", headers=headers)


async def test_a_request_is_served_from_the_cache_until_the_role_changes(
    rt: Runtime, world: World
) -> None:
    agent = await world.operator("cache-agent", Role.AGENT)
    headers = await world.headers(agent)
    first = await _me(world.client, headers)
    assert first.json()["role"] == "agent"
    assert len(rt.principal_cache._entries) == 1  # the principal is cached

    await do_update_operator(rt, None, agent.id, role=Role.MANAGER)

    assert rt.principal_cache._entries == {}
    again = await _me(world.client, headers)
    assert again.status_code == 200
    assert "reports.read" in again.json()["permissions"]
    assert "reports.read" not in first.json()["permissions"]


async def test_removing_an_operator_ends_their_cached_session_at_once(
    rt: Runtime, world: World
) -> None:
    agent = await world.operator("cache-removed", Role.AGENT)
    headers = await world.headers(agent)
    assert (await _me(world.client, headers)).status_code == 200

    await do_remove_operator(rt, None, agent.id)

    assert (await _me(world.client, headers)).status_code == 401


async def test_sign_out_ends_the_cached_session_at_once(rt: Runtime, world: World) -> None:
    agent = await world.operator("cache-logout", Role.AGENT)
    headers = await world.headers(agent)
    assert (await _me(world.client, headers)).status_code == 200

    assert (await world.client.post("/api/v1/auth/logout", headers=headers)).status_code < 300

    assert (await _me(world.client, headers)).status_code == 401


async def test_a_deleted_group_leaves_the_cached_principals(rt: Runtime, world: World) -> None:
    group_id = await world.group("Cached group")
    agent = await world.operator("cache-grouped", Role.AGENT, groups=[group_id])
    admin = await world.operator("cache-admin", Role.ADMIN)
    headers = await world.headers(agent)
    assert (await _me(world.client, headers)).json()["group_ids"] == [str(group_id)]
    admin_principal = await auth.authenticate_session(rt, *(await _session_of(world, admin)), None)

    await do_delete_group(rt, admin_principal, group_id)

    assert (await _me(world.client, headers)).json()["group_ids"] == []


async def test_requiring_mfa_for_admins_applies_to_cached_admin_sessions(
    rt: Runtime, world: World
) -> None:
    admin = await world.operator("cache-mfa-admin", Role.ADMIN)
    headers = await world.headers(admin)
    assert (await _me(world.client, headers)).json()["mfa_enrolment_required"] is False

    workspace_id = await world.workspace()
    await do_update_workspace_settings(
        rt, None, workspace_id, name=None, mfa_required_for_admins=True
    )

    assert (await _me(world.client, headers)).json()["mfa_enrolment_required"] is True


async def test_a_load_that_raced_a_change_is_not_stored(rt: Runtime, world: World) -> None:
    agent = await world.operator("cache-race", Role.AGENT)
    session_id, operator_id = await _session_of(world, agent)
    cache = rt.principal_cache
    snapshot = cache.snapshot()
    principal = await auth.authenticate_session(rt, session_id, operator_id)
    cache.invalidate(operator_id)  # a change committed while the load ran
    cache.store(snapshot, None, principal, principal_expiry := _far())
    assert cache.get(session_id, None) is None
    cache.store(cache.snapshot(), None, principal, principal_expiry)
    assert cache.get(session_id, None) == principal


def _far() -> datetime:
    return utcnow() + timedelta(hours=1)


async def _session_of(world: World, account: Account) -> tuple[uuid.UUID, uuid.UUID]:
    response = await world.login(account)
    claims = world.rt.tokens.read_access_token(response.json()["access_token"])
    return claims.session_id, claims.operator_id


@pytest.mark.redis
async def test_a_revocation_on_one_node_reaches_the_cache_of_another(
    two_nodes: tuple[Runtime, Runtime], world: World
) -> None:
    node_a, node_b = two_nodes
    agent = await world.operator("cache-two-nodes", Role.AGENT)
    app_b = create_app(runtime=node_b)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_b), base_url="https://node-b"
    ) as client_b:
        headers = await world.headers(agent)
        deadline = time.monotonic() + 5
        # The first requests start node B's watcher; from then on B serves the principal
        # from memory.
        while not node_b.principal_cache._entries and time.monotonic() < deadline:
            assert (await _me(client_b, headers)).status_code == 200
            await asyncio.sleep(0.01)
        assert node_b.principal_cache._entries

        await do_remove_operator(node_a, None, agent.id)

        status = (await _me(client_b, headers)).status_code
        while status == 200 and time.monotonic() < deadline:  # until Redis delivers
            await asyncio.sleep(0.01)
            status = (await _me(client_b, headers)).status_code
        assert status == 401
