"""Sessions after sign-in: refresh rotation and reuse detection, sign-out, and everything that
ends a session early (password change, removal) or refuses a token (expiry, tampering)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select, text

from confide.access.models import AuthSession, RefreshToken, Role
from confide.core import clock
from confide.models import metadata
from tests.conftest import PASSWORD, Account, World

ME = "/api/v1/me"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
NEW_PASSWORD = "a brand new passphrase 42"
REWIND_SECONDS = 3600


@pytest.fixture
async def alice(world: World) -> Account:
    return await world.operator("alice")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def _session(world: World, account: Account) -> dict[str, Any]:
    response = await world.login(account)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _me(world: World, access: str) -> httpx.Response:
    return await world.client.get(ME, headers=_bearer(access))


async def _refresh(world: World, refresh_token: str) -> httpx.Response:
    return await world.client.post(REFRESH, json={"refresh_token": refresh_token})


async def _assert_refused(world: World, access: str) -> None:
    response = await _me(world, access)
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_token"


async def _assert_works(world: World, access: str, account: Account) -> None:
    response = await _me(world, access)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(account.id)


async def _assert_refresh_refused(world: World, refresh_token: str) -> None:
    response = await _refresh(world, refresh_token)
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_token"
    assert "access_token" not in response.text or response.json().get("access_token") is None


async def _sessions_of(world: World, account: Account) -> list[AuthSession]:
    async with world.rt.db.session() as session:
        return list(
            (
                await session.scalars(
                    select(AuthSession)
                    .where(AuthSession.operator_id == account.id)
                    .order_by(AuthSession.created_at)
                )
            ).all()
        )


# -- refresh --------------------------------------------------------------------------------


async def test_refresh_rotates_the_refresh_token(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    response = await _refresh(world, login["refresh_token"])
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"].startswith("cfr_")
    assert rotated["refresh_token"] != login["refresh_token"]
    assert rotated["expires_in"] > 0
    await _assert_works(world, rotated["access_token"], alice)
    # The access token from before the refresh stays valid until it expires.
    await _assert_works(world, login["access_token"], alice)
    # Still one session; the new refresh token belongs to it.
    sessions = await _sessions_of(world, alice)
    assert len(sessions) == 1 and sessions[0].last_refreshed_at is not None
    # And the new refresh token rotates again.
    again = await _refresh(world, rotated["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] not in (login["refresh_token"], rotated["refresh_token"])


async def test_reused_refresh_token_revokes_the_session(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    first = (await _refresh(world, login["refresh_token"])).json()
    second = (await _refresh(world, first["refresh_token"])).json()
    await _assert_works(world, second["access_token"], alice)

    reuse = await _refresh(world, login["refresh_token"])
    assert reuse.status_code == 401, reuse.text
    assert _code(reuse) == "invalid_token"
    assert reuse.json().get("access_token") is None

    # The whole token family is dead: the newest refresh token and every access token.
    await _assert_refresh_refused(world, second["refresh_token"])
    for access in (login["access_token"], first["access_token"], second["access_token"]):
        await _assert_refused(world, access)
    sessions = await _sessions_of(world, alice)
    assert len(sessions) == 1
    assert sessions[0].revoked_at is not None
    assert sessions[0].revoked_reason == "refresh_token_reused"


async def test_reusing_a_refresh_token_ends_only_that_session(world: World, alice: Account) -> None:
    stolen = await _session(world, alice)
    other = await _session(world, alice)
    await _refresh(world, stolen["refresh_token"])
    assert (await _refresh(world, stolen["refresh_token"])).status_code == 401
    await _assert_works(world, other["access_token"], alice)
    assert (await _refresh(world, other["refresh_token"])).status_code == 200


async def test_unknown_refresh_token_is_refused(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    await _assert_refresh_refused(world, "cfr_" + "x" * 43)
    await _assert_refresh_refused(world, login["access_token"][:256])
    # Nothing happened to the real session.
    await _assert_works(world, login["access_token"], alice)
    assert (await _refresh(world, login["refresh_token"])).status_code == 200


async def test_refresh_without_any_token_is_refused(world: World) -> None:
    response = await world.client.post(REFRESH)
    assert response.status_code == 401
    assert _code(response) == "invalid_token"


async def test_refresh_tokens_are_stored_only_as_keyed_hashes(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    rotated = (await _refresh(world, login["refresh_token"])).json()
    async with world.rt.db.session() as session:
        hashes = set((await session.scalars(select(RefreshToken.token_hash))).all())
        dump = []
        for table in metadata.sorted_tables:
            sql = f'SELECT * FROM "{table.name}"'  # noqa: S608 - names from our own metadata
            rows = (await session.execute(text(sql))).all()
            dump.extend(str(value) for row in rows for value in row)
    assert len(hashes) == 2
    for token in (login["refresh_token"], rotated["refresh_token"]):
        assert world.rt.tokens.hash_refresh_token(token) in hashes
        secret_part = token.removeprefix("cfr_")
        assert not any(secret_part in value for value in dump)


async def test_session_cannot_be_refreshed_after_it_expires(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    clock.advance(world.rt.settings.refresh_token_ttl_seconds + 1)
    await _assert_refresh_refused(world, login["refresh_token"])
    await _assert_refused(world, login["access_token"])


async def test_refresh_extends_the_session(world: World, alice: Account) -> None:
    ttl = world.rt.settings.refresh_token_ttl_seconds
    # Start far enough in the past that moving forward a whole session lifetime stays behind
    # the wall clock (PyJWT checks "iat" against it; see the clock-ahead test below).
    clock.advance(-(ttl + REWIND_SECONDS))
    login = await _session(world, alice)
    clock.advance(ttl - 60)
    rotated = await _refresh(world, login["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    clock.advance(120)  # past the first expiry, well within the extended one
    await _assert_works(world, rotated.json()["access_token"], alice)
    assert (await _refresh(world, rotated.json()["refresh_token"])).status_code == 200


# -- access token expiry and tampering ------------------------------------------------------


async def test_access_token_past_its_expiry_is_refused(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    ttl = world.rt.settings.access_token_ttl_seconds
    clock.advance(ttl - 5)
    await _assert_works(world, login["access_token"], alice)
    clock.advance(10)
    response = await _me(world, login["access_token"])
    assert response.status_code == 401
    assert _code(response) == "invalid_token"
    assert "expired" in response.json()["error"]["message"]
    # The session itself lives on: the refresh token still gets a fresh access token.
    refreshed = await _refresh(world, login["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text


async def test_token_issued_while_the_clock_runs_ahead_is_accepted(
    world: World, alice: Account
) -> None:
    """A token this service has just issued must be accepted by it. With confide's clock a few
    seconds ahead of the system clock (a cluster node whose clock runs fast, or a test that
    moved the clock) the token's "iat" lies in the system clock's future."""
    clock.advance(5)
    login = await _session(world, alice)
    await _assert_works(world, login["access_token"], alice)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_tampered_access_token_is_refused(world: World, alice: Account) -> None:
    admin = await world.operator("root", Role.ADMIN)
    admin_session = await _session(world, admin)
    login = await _session(world, alice)
    header, _payload, signature = login["access_token"].split(".")
    claims = _claims(login["access_token"])
    # Alice's signature on a payload that names the admin's session.
    claims.update(sub=str(admin.id), sid=_claims(admin_session["access_token"])["sid"])
    forged = f"{header}.{_b64(claims)}.{signature}"
    await _assert_refused(world, forged)
    # A longer life for her own token.
    longer = {
        **_claims(login["access_token"]),
        "exp": _claims(login["access_token"])["exp"] + 900_000,
    }
    await _assert_refused(world, f"{header}.{_b64(longer)}.{signature}")
    # A changed signature.
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    await _assert_refused(world, f"{header}.{_payload}.{flipped}")
    await _assert_works(world, login["access_token"], alice)  # the real one is fine


async def test_token_signed_with_another_key_or_none_is_refused(
    world: World, alice: Account
) -> None:
    login = await _session(world, alice)
    claims = _claims(login["access_token"])
    other_key = jwt.encode(claims, "another instance's secret key, 32+ bytes", algorithm="HS256")
    await _assert_refused(world, other_key)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    await _assert_refused(world, unsigned)


@pytest.mark.parametrize(
    "garbage",
    ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer", "cfr_notanaccesstoken", "x" * 2000],
)
async def test_garbage_bearer_token_is_refused(world: World, alice: Account, garbage: str) -> None:
    response = await world.client.get(ME, headers=_bearer(garbage))
    assert response.status_code == 401, response.text
    assert _code(response) in ("invalid_token", "not_authenticated")


async def test_refresh_token_is_not_an_access_token(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    await _assert_refused(world, login["refresh_token"])


async def test_missing_credentials_are_refused(world: World) -> None:
    response = await world.client.get(ME)
    assert response.status_code == 401
    assert _code(response) == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


# -- logout ---------------------------------------------------------------------------------


async def test_logout_revokes_access_and_refresh(world: World, alice: Account) -> None:
    login = await _session(world, alice)
    response = await world.client.post(LOGOUT, headers=_bearer(login["access_token"]))
    assert response.status_code == 204, response.text
    await _assert_refused(world, login["access_token"])
    await _assert_refresh_refused(world, login["refresh_token"])
    sessions = await _sessions_of(world, alice)
    assert [s.revoked_reason for s in sessions] == ["logout"]


async def test_logout_ends_only_the_current_session(world: World, alice: Account) -> None:
    here = await _session(world, alice)
    there = await _session(world, alice)
    await world.client.post(LOGOUT, headers=_bearer(here["access_token"]), json={})
    await _assert_refused(world, here["access_token"])
    await _assert_works(world, there["access_token"], alice)
    assert (await _refresh(world, there["refresh_token"])).status_code == 200


async def test_logout_everywhere_ends_every_session_of_the_operator(
    world: World, alice: Account
) -> None:
    bob = await world.operator("bob")
    sessions = [await _session(world, alice) for _ in range(3)]
    bob_session = await _session(world, bob)
    response = await world.client.post(
        LOGOUT, headers=_bearer(sessions[0]["access_token"]), json={"everywhere": True}
    )
    assert response.status_code == 204, response.text
    for login in sessions:
        await _assert_refused(world, login["access_token"])
        await _assert_refresh_refused(world, login["refresh_token"])
    assert all(s.revoked_at is not None for s in await _sessions_of(world, alice))
    # Someone else's session is not touched.
    await _assert_works(world, bob_session["access_token"], bob)


async def test_logout_needs_a_session(world: World) -> None:
    response = await world.client.post(LOGOUT)
    assert response.status_code == 401


# -- what else ends sessions ----------------------------------------------------------------


async def test_password_change_keeps_the_current_session_and_ends_the_others(
    world: World, alice: Account
) -> None:
    current = await _session(world, alice)
    other = await _session(world, alice)
    response = await world.client.post(
        f"{ME}/password",
        headers=_bearer(current["access_token"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text
    await _assert_works(world, current["access_token"], alice)
    assert (await _refresh(world, current["refresh_token"])).status_code == 200
    await _assert_refused(world, other["access_token"])
    await _assert_refresh_refused(world, other["refresh_token"])
    reasons = sorted(str(s.revoked_reason) for s in await _sessions_of(world, alice))
    assert reasons == ["None", "password_changed"]
    # The password itself changed.
    assert (await world.login(alice)).status_code == 401
    assert (await world.login(Account(alice.id, "acme", "alice", NEW_PASSWORD))).status_code == 200


async def test_password_change_with_wrong_current_password_changes_nothing(
    world: World, alice: Account
) -> None:
    current = await _session(world, alice)
    other = await _session(world, alice)
    response = await world.client.post(
        f"{ME}/password",
        headers=_bearer(current["access_token"]),
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "current_password"
    await _assert_works(world, other["access_token"], alice)
    assert (await world.login(alice)).status_code == 200


async def test_removing_an_operator_ends_their_sessions_at_once(
    world: World, alice: Account
) -> None:
    admin = await world.operator("root", Role.ADMIN)
    logins = [await _session(world, alice) for _ in range(2)]
    await _assert_works(world, logins[0]["access_token"], alice)
    response = await world.client.delete(
        f"/api/v1/operators/{alice.id}", headers=await world.headers(admin)
    )
    assert response.status_code == 204, response.text
    for login in logins:
        await _assert_refused(world, login["access_token"])
        await _assert_refresh_refused(world, login["refresh_token"])
    sessions = await _sessions_of(world, alice)
    assert [s.revoked_reason for s in sessions] == ["operator_removed", "operator_removed"]
