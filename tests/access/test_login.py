"""Signing in with a password: who gets in, and how every refusal looks the same."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from confide.access.models import AuthSession, Operator, OperatorStatus, Role
from tests.conftest import PASSWORD, Account, World

LOGIN = "/api/v1/auth/login"
WRONG_PASSWORD = "not the right passphrase"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


def _assert_invalid_credentials(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    error = _error(response)
    assert error["code"] == "invalid_credentials"
    assert error["message"]
    assert "access_token" not in response.text
    assert "refresh_token" not in response.text


async def _login(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post(LOGIN, json=body)


async def test_login_with_correct_password_returns_working_tokens(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.login(alice)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["refresh_token"].startswith("cfr_")
    me = await world.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    assert me.json()["name"] == "Alice Example"


async def test_login_records_a_session_and_the_sign_in_time(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.login(alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["expires_in"] <= world.rt.settings.access_token_ttl_seconds
    assert body["mfa_enrolment_required"] is False
    assert body["csrf_token"] is None  # token transport: nothing goes in cookies
    assert "set-cookie" not in response.headers
    async with world.rt.db.session() as session:
        sessions = (
            await session.scalars(select(AuthSession).where(AuthSession.operator_id == alice.id))
        ).all()
        operator = await session.get(Operator, alice.id)
    assert len(sessions) == 1
    assert sessions[0].transport == "token"
    assert sessions[0].revoked_at is None
    assert operator is not None and operator.last_login_at is not None


async def test_wrong_password_is_refused_with_invalid_credentials(world: World) -> None:
    alice = await world.operator("alice")
    response = await world.login(Account(alice.id, "acme", "alice", WRONG_PASSWORD))
    _assert_invalid_credentials(response)
    async with world.rt.db.session() as session:
        count = len(
            (
                await session.scalars(
                    select(AuthSession).where(AuthSession.operator_id == alice.id)
                )
            ).all()
        )
    assert count == 0


async def test_unknown_workspace_answers_exactly_like_a_wrong_password(world: World) -> None:
    await world.operator("alice")
    wrong_password = await _login(
        world.client, workspace="acme", username="alice", password=WRONG_PASSWORD
    )
    unknown_workspace = await _login(
        world.client, workspace="no-such-place", username="alice", password=PASSWORD
    )
    _assert_invalid_credentials(wrong_password)
    _assert_invalid_credentials(unknown_workspace)
    assert unknown_workspace.json() == wrong_password.json()
    assert unknown_workspace.headers.get("www-authenticate") == wrong_password.headers.get(
        "www-authenticate"
    )


async def test_unknown_username_answers_exactly_like_a_wrong_password(world: World) -> None:
    await world.operator("alice")
    wrong_password = await _login(
        world.client, workspace="acme", username="alice", password=WRONG_PASSWORD
    )
    unknown_user = await _login(
        world.client, workspace="acme", username="nobody", password=PASSWORD
    )
    _assert_invalid_credentials(unknown_user)
    assert unknown_user.json() == wrong_password.json()


async def test_operator_of_another_workspace_cannot_sign_in_here(world: World) -> None:
    await world.operator("alice")  # in acme
    await world.workspace("globex")
    wrong_password = await _login(
        world.client, workspace="acme", username="alice", password=WRONG_PASSWORD
    )
    elsewhere = await _login(world.client, workspace="globex", username="alice", password=PASSWORD)
    _assert_invalid_credentials(elsewhere)
    assert elsewhere.json() == wrong_password.json()


async def test_removed_operator_cannot_sign_in(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    alice = await world.operator("alice")
    assert (await world.login(alice)).status_code == 200  # could sign in before
    removed = await world.client.delete(
        f"/api/v1/operators/{alice.id}", headers=await world.headers(admin)
    )
    assert removed.status_code == 204, removed.text
    async with world.rt.db.session() as session:
        operator = await session.get(Operator, alice.id)
    assert operator is not None and operator.status is OperatorStatus.REMOVED

    wrong_password = await _login(
        world.client, workspace="acme", username="root", password=WRONG_PASSWORD
    )
    response = await world.login(alice)
    _assert_invalid_credentials(response)
    assert response.json() == wrong_password.json()
    # Nor under the placeholder username the removal left behind.
    by_placeholder = await _login(
        world.client, workspace="acme", username=operator.username, password=PASSWORD
    )
    _assert_invalid_credentials(by_placeholder)


async def test_usernames_are_case_insensitive_on_login(world: World) -> None:
    alice = await world.operator("alice")
    for spelling in ("ALICE", "Alice", "  aLiCe  "):
        response = await _login(
            world.client, workspace="acme", username=spelling, password=PASSWORD
        )
        assert response.status_code == 200, (spelling, response.text)
        me = await world.client.get("/api/v1/me", headers=_bearer(response.json()["access_token"]))
        assert me.status_code == 200
        assert me.json()["username"] == "alice"
        assert me.json()["id"] == str(alice.id)


async def test_password_is_case_sensitive(world: World) -> None:
    await world.operator("alice")
    response = await _login(
        world.client, workspace="acme", username="alice", password=PASSWORD.upper()
    )
    _assert_invalid_credentials(response)


async def test_workspace_operator_cannot_sign_in_without_a_workspace(world: World) -> None:
    await world.operator("alice")
    response = await _login(world.client, username="alice", password=PASSWORD)
    _assert_invalid_credentials(response)


async def test_support_account_signs_in_without_a_workspace(world: World) -> None:
    sup = await world.operator("sup", Role.SUPPORT, slug=None)
    response = await world.login(sup)
    assert response.status_code == 200, response.text
    me = await world.client.get("/api/v1/me", headers=_bearer(response.json()["access_token"]))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["id"] == str(sup.id)
    assert body["role"] == "support"
    assert body["workspace_id"] is None
    assert body["permissions"] == ["self.manage"]
    # An empty workspace field is the same as none.
    empty = await _login(world.client, workspace="", username="SUP", password=PASSWORD)
    assert empty.status_code == 200, empty.text


async def test_support_account_cannot_sign_in_through_a_workspace(world: World) -> None:
    await world.operator("sup", Role.SUPPORT, slug=None)
    await world.workspace("acme")
    response = await _login(world.client, workspace="acme", username="sup", password=PASSWORD)
    _assert_invalid_credentials(response)


async def test_support_account_sees_nothing_of_any_workspace(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    await world.group("Sales")
    admin_headers = await world.headers(admin)
    created = await world.client.post(
        "/api/v1/api-keys", headers=admin_headers, json={"name": "backend"}
    )
    assert created.status_code == 201
    sup = await world.operator("sup", Role.SUPPORT, slug=None)
    headers = await world.headers(sup)
    for path in ("/api/v1/workspace", "/api/v1/operators", "/api/v1/groups", "/api/v1/api-keys"):
        response = await world.client.get(path, headers=headers)
        assert response.status_code in (403, 404), (path, response.text)
        assert _error(response)["code"] in ("forbidden", "not_found"), path
        for leaked in ("acme", "root", "Sales", "backend"):
            assert leaked not in response.text, (path, leaked)
    # The same calls do answer for the admin, so the refusals above are about the support role.
    for path in ("/api/v1/workspace", "/api/v1/operators", "/api/v1/groups", "/api/v1/api-keys"):
        assert (await world.client.get(path, headers=admin_headers)).status_code == 200, path


async def test_login_rejects_unknown_fields_and_transports(world: World) -> None:
    await world.operator("alice")
    extra = await _login(
        world.client, workspace="acme", username="alice", password=PASSWORD, role="admin"
    )
    assert extra.status_code == 422
    assert _error(extra)["field"] == "role"
    transport = await _login(
        world.client, workspace="acme", username="alice", password=PASSWORD, transport="url"
    )
    assert transport.status_code == 422
    assert _error(transport)["field"] == "transport"
