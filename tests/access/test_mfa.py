"""Two-factor authentication: TOTP enrolment, the sign-in challenge, replay protection,
recovery codes, turning it off, and workspaces that require it for admins."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import httpx
import pytest
from sqlalchemy import func, select

from confide.access.models import ApiKey, Group, RecoveryCode, Role, TotpCredential, Workspace
from confide.core import clock
from confide.runtime import Runtime
from tests.conftest import PASSWORD, Account, World, totp_now

ME = "/api/v1/me"
ENROL = "/api/v1/me/mfa/enrol"
CONFIRM = "/api/v1/me/mfa/confirm"
STATUS = "/api/v1/me/mfa"
RECOVERY = "/api/v1/me/mfa/recovery-codes"
DISABLE = "/api/v1/me/mfa/disable"
MFA = "/api/v1/auth/mfa"
REWIND_SECONDS = 3600
# Everything a workspace admin does outside their own account.
ADMIN_ENDPOINTS = (
    "/api/v1/workspace",
    "/api/v1/operators",
    "/api/v1/groups",
    "/api/v1/api-keys",
    "/api/v1/conversations",
)


@pytest.fixture(autouse=True)
def _clock_behind_the_wall_clock(rt: Runtime) -> None:
    # PyJWT also checks "iat" against the *wall* clock (see
    # test_mfa_challenge_issued_while_the_clock_runs_ahead_is_accepted). Starting an hour in
    # the past lets these tests move confide's clock between TOTP steps and still use tokens.
    clock.advance(-REWIND_SECONDS)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _next_step() -> None:
    """Move to just after the start of the next 30-second step: the code used last is spent,
    and codes computed now stay valid for the rest of the test."""
    now = clock.utcnow().timestamp()
    clock.advance(30 - now % 30 + 0.5)


def _wrong_totp(secret: str) -> str:
    valid = {totp_now(secret, k) for k in range(-3, 4)}
    return next(c for c in (f"{i:06d}" for i in range(100)) if c not in valid)


async def _enrol(world: World, account: Account) -> tuple[str, list[str], dict[str, str]]:
    """Turn MFA on for ``account``; returns its secret, recovery codes and a session."""
    headers = await world.headers(account)
    enrol = await world.client.post(ENROL, headers=headers)
    assert enrol.status_code == 200, enrol.text
    secret: str = enrol.json()["secret"]
    confirm = await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(secret)})
    assert confirm.status_code == 200, confirm.text
    _next_step()
    return secret, confirm.json()["recovery_codes"], headers


async def _challenge(world: World, account: Account, **extra: Any) -> str:
    response = await world.login(account, **extra)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"mfa_required": True, "challenge": body["challenge"]}
    challenge: str = body["challenge"]
    return challenge


async def _mfa_status(world: World, headers: dict[str, str]) -> dict[str, Any]:
    response = await world.client.get(STATUS, headers=headers)
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


# -- enrolment ------------------------------------------------------------------------------


async def test_enrolment_returns_a_secret_and_an_otpauth_uri(world: World) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    response = await world.client.post(ENROL, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    secret = body["secret"]
    assert len(secret) >= 16 and secret.isalnum() and secret.upper() == secret
    uri = urlparse(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert unquote(uri.path) == "/Confide:acme:alice"
    query = parse_qs(uri.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Confide"]
    # Not on until confirmed: the password alone still signs in.
    assert await _mfa_status(world, headers) == {"enabled": False, "recovery_codes_left": 0}
    login = await world.login(alice)
    assert login.status_code == 200 and login.json()["access_token"]


async def test_confirming_enrolment_turns_mfa_on_and_returns_ten_recovery_codes(
    world: World,
) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    response = await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(secret)})
    assert response.status_code == 200, response.text
    codes = response.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(isinstance(c, str) and len(c) >= 10 for c in codes)
    assert await _mfa_status(world, headers) == {"enabled": True, "recovery_codes_left": 10}
    assert (await world.client.get(ME, headers=headers)).json()["mfa_enabled"] is True
    async with world.rt.db.session() as session:
        stored = (
            await session.scalars(
                select(RecoveryCode.code_hash).where(RecoveryCode.operator_id == alice.id)
            )
        ).all()
    assert len(stored) == 10
    assert not set(stored) & set(codes)  # only keyed hashes are kept


async def test_confirming_with_a_wrong_code_leaves_mfa_off(world: World) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    response = await world.client.post(CONFIRM, headers=headers, json={"code": _wrong_totp(secret)})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "code"
    assert "recovery_codes" not in response.text
    assert (await _mfa_status(world, headers))["enabled"] is False
    assert (await world.login(alice)).json()["access_token"]


async def test_confirming_without_starting_enrolment_is_a_conflict(world: World) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    response = await world.client.post(CONFIRM, headers=headers, json={"code": "123456"})
    assert response.status_code == 409
    assert _code(response) == "conflict"


async def test_starting_enrolment_again_replaces_the_unconfirmed_secret(world: World) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    first = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    second = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    assert first != second
    stale = await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(first)})
    assert stale.status_code == 422
    fresh = await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(second)})
    assert fresh.status_code == 200, fresh.text


async def test_enrolling_again_while_mfa_is_on_is_a_conflict(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, headers = await _enrol(world, alice)
    async with world.rt.db.session() as session:
        before = await session.get(TotpCredential, alice.id)
    response = await world.client.post(ENROL, headers=headers)
    assert response.status_code == 409
    async with world.rt.db.session() as session:
        credential = await session.get(TotpCredential, alice.id)
    assert credential is not None and before is not None
    assert credential.secret == before.secret  # not replaced
    assert secret not in credential.secret  # and stored sealed, never in clear


# -- signing in with a second factor ------------------------------------------------------


async def test_after_enrolment_login_asks_for_a_second_factor(world: World) -> None:
    alice = await world.operator("alice")
    await _enrol(world, alice)
    response = await world.login(alice)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mfa_required"] is True
    assert isinstance(body["challenge"], str) and body["challenge"]
    assert "access_token" not in body and "refresh_token" not in body
    # The challenge is not a session.
    me = await world.client.get(ME, headers=_bearer(body["challenge"]))
    assert me.status_code == 401
    assert _code(me) == "invalid_token"


async def test_totp_code_completes_the_login_with_working_tokens(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    response = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"].startswith("cfr_")
    assert body["mfa_enrolment_required"] is False
    me = await world.client.get(ME, headers=_bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == str(alice.id)


async def test_the_same_totp_code_cannot_be_replayed(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    code = totp_now(secret)
    first = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": code}
    )
    assert first.status_code == 200, first.text
    # Same step, same code, a fresh challenge: refused.
    replay = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": code}
    )
    assert replay.status_code == 401, replay.text
    assert _code(replay) == "invalid_mfa_code"
    assert "access_token" not in replay.text
    # Still refused one step later, while it would otherwise be inside the drift window.
    clock.advance(30)
    late = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": code}
    )
    assert late.status_code == 401
    assert _code(late) == "invalid_mfa_code"
    # The current code of that later step is fine.
    current = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret)}
    )
    assert current.status_code == 200, current.text


async def test_the_enrolment_code_cannot_be_replayed_to_sign_in(world: World) -> None:
    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    code = totp_now(secret)
    confirmed = await world.client.post(CONFIRM, headers=headers, json={"code": code})
    assert confirmed.status_code == 200
    replay = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": code}
    )
    assert replay.status_code == 401
    assert _code(replay) == "invalid_mfa_code"


async def test_a_code_older_than_the_last_used_one_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    newer = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret, 1)}
    )
    assert newer.status_code == 200, newer.text
    older = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret)}
    )
    assert older.status_code == 401
    assert _code(older) == "invalid_mfa_code"


async def test_codes_are_accepted_within_one_step_of_drift_only(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    clock.advance(120)  # far from the enrolment step, still at the start of a step
    too_old = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret, -2)}
    )
    assert too_old.status_code == 401
    previous = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret, -1)}
    )
    assert previous.status_code == 200, previous.text
    too_new = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret, 2)}
    )
    assert too_new.status_code == 401


async def test_wrong_code_is_refused_with_invalid_mfa_code(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    for wrong in (_wrong_totp(secret), "12345a", "1234567"):
        response = await world.client.post(MFA, json={"challenge": challenge, "code": wrong})
        assert response.status_code == 401, (wrong, response.text)
        assert _code(response) == "invalid_mfa_code"
        assert "access_token" not in response.text
        clock.advance(world.rt.settings.lockout_duration_seconds + 1)  # stay clear of the lock
        challenge = await _challenge(world, alice)


async def test_non_ascii_digits_are_refused_as_a_wrong_code_not_a_crash(world: World) -> None:
    alice = await world.operator("alice")
    await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    # str.isdigit() is true for these, but they are no TOTP code.
    response = await world.client.post(
        MFA, json={"challenge": challenge, "code": "\u0661\u0662\u0663\u0664\u0665\u0666"}
    )
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_mfa_code"


async def test_sending_both_a_code_and_a_recovery_code_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    secret, codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    response = await world.client.post(
        MFA, json={"challenge": challenge, "code": totp_now(secret), "recovery_code": codes[0]}
    )
    assert response.status_code == 422
    neither = await world.client.post(MFA, json={"challenge": challenge})
    assert neither.status_code == 422
    # Nothing was spent: both still work.
    ok = await world.client.post(MFA, json={"challenge": challenge, "recovery_code": codes[0]})
    assert ok.status_code == 200, ok.text


async def test_expired_challenge_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    clock.advance(world.rt.settings.mfa_challenge_ttl_seconds + 1)  # 301 s
    code = totp_now(secret)
    response = await world.client.post(MFA, json={"challenge": challenge, "code": code})
    assert response.status_code == 401, response.text
    assert _code(response) == "invalid_token"
    assert "access_token" not in response.text
    # The code itself was fine (and not spent): a fresh challenge takes it.
    fresh = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": code}
    )
    assert fresh.status_code == 200, fresh.text


async def test_challenge_is_still_good_just_before_it_expires(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    clock.advance(world.rt.settings.mfa_challenge_ttl_seconds - 10)
    response = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert response.status_code == 200, response.text


async def test_tampered_challenge_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    header, payload, signature = challenge.split(".")
    forged = f"{header}.{payload}.{signature[:10]}{'A' if signature[10] != 'A' else 'B'}"
    forged += signature[11:]
    response = await world.client.post(MFA, json={"challenge": forged, "code": totp_now(secret)})
    assert response.status_code == 401
    assert _code(response) == "invalid_token"


async def test_access_token_is_not_accepted_as_a_challenge(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, headers = await _enrol(world, alice)
    access = headers["Authorization"].removeprefix("Bearer ")
    response = await world.client.post(MFA, json={"challenge": access, "code": totp_now(secret)})
    assert response.status_code == 401
    assert _code(response) == "invalid_token"


async def test_challenge_of_a_removed_operator_is_refused(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    removed = await world.client.delete(
        f"/api/v1/operators/{alice.id}", headers=await world.headers(admin)
    )
    assert removed.status_code == 204
    response = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert response.status_code == 401
    assert "access_token" not in response.text


async def test_mfa_challenge_issued_while_the_clock_runs_ahead_is_accepted(
    world: World,
) -> None:
    """A node whose clock runs a little ahead (or a moved test clock) issues challenges that
    the same service must still accept: every time check is meant to use confide's clock."""
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    clock.advance(REWIND_SECONDS + 5)  # a few seconds ahead of the wall clock
    challenge = await _challenge(world, alice)
    response = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert response.status_code == 200, response.text


# -- recovery codes -----------------------------------------------------------------------


async def test_recovery_code_works_exactly_once(world: World) -> None:
    alice = await world.operator("alice")
    _secret, codes, headers = await _enrol(world, alice)
    first = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": codes[3]}
    )
    assert first.status_code == 200, first.text
    me = await world.client.get(ME, headers=_bearer(first.json()["access_token"]))
    assert me.status_code == 200
    assert (await _mfa_status(world, headers))["recovery_codes_left"] == 9

    again = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": codes[3]}
    )
    assert again.status_code == 401, again.text
    assert _code(again) == "invalid_mfa_code"
    assert (await _mfa_status(world, headers))["recovery_codes_left"] == 9
    # The other codes are untouched.
    other = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": codes[4]}
    )
    assert other.status_code == 200


async def test_recovery_code_ignores_case_and_spaces(world: World) -> None:
    alice = await world.operator("alice")
    _secret, codes, _headers = await _enrol(world, alice)
    typed = " " + codes[0].upper().replace("-", " - ") + " "
    response = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": typed}
    )
    assert response.status_code == 200, response.text


async def test_recovery_code_of_another_operator_is_refused(world: World) -> None:
    alice = await world.operator("alice")
    bob = await world.operator("bob")
    await _enrol(world, alice)
    _secret, bob_codes, _headers = await _enrol(world, bob)
    response = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": bob_codes[0]}
    )
    assert response.status_code == 401
    assert _code(response) == "invalid_mfa_code"


async def test_regenerating_recovery_codes_invalidates_the_old_ones(world: World) -> None:
    alice = await world.operator("alice")
    secret, old_codes, headers = await _enrol(world, alice)
    response = await world.client.post(RECOVERY, headers=headers, json={"code": totp_now(secret)})
    assert response.status_code == 200, response.text
    new_codes = response.json()["recovery_codes"]
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    assert (await _mfa_status(world, headers))["recovery_codes_left"] == 10

    stale = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": old_codes[0]}
    )
    assert stale.status_code == 401
    assert _code(stale) == "invalid_mfa_code"
    fresh = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": new_codes[0]}
    )
    assert fresh.status_code == 200, fresh.text


async def test_regenerating_recovery_codes_needs_a_valid_code(world: World) -> None:
    alice = await world.operator("alice")
    secret, old_codes, headers = await _enrol(world, alice)
    response = await world.client.post(
        RECOVERY, headers=headers, json={"code": _wrong_totp(secret)}
    )
    assert response.status_code == 422
    assert "recovery_codes" not in response.text
    still = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "recovery_code": old_codes[0]}
    )
    assert still.status_code == 200, still.text


# -- turning MFA off ----------------------------------------------------------------------


async def _assert_still_enabled(world: World, account: Account, headers: dict[str, str]) -> None:
    assert (await _mfa_status(world, headers))["enabled"] is True
    assert (await world.login(account)).json().get("mfa_required") is True


async def test_disabling_needs_the_password(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, headers = await _enrol(world, alice)
    response = await world.client.post(
        DISABLE, headers=headers, json={"password": "not the password", "code": totp_now(secret)}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "password"
    await _assert_still_enabled(world, alice, headers)


async def test_disabling_needs_a_valid_code(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, headers = await _enrol(world, alice)
    response = await world.client.post(
        DISABLE, headers=headers, json={"password": PASSWORD, "code": _wrong_totp(secret)}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "code"
    missing = await world.client.post(DISABLE, headers=headers, json={"password": PASSWORD})
    assert missing.status_code == 422
    await _assert_still_enabled(world, alice, headers)


async def test_disabling_with_password_and_code_turns_mfa_off(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, headers = await _enrol(world, alice)
    response = await world.client.post(
        DISABLE, headers=headers, json={"password": PASSWORD, "code": totp_now(secret)}
    )
    assert response.status_code == 204, response.text
    assert await _mfa_status(world, headers) == {"enabled": False, "recovery_codes_left": 0}
    login = await world.login(alice)
    assert login.status_code == 200
    assert login.json()["access_token"] and "mfa_required" not in login.json()
    async with world.rt.db.session() as session:
        credential = await session.get(TotpCredential, alice.id)
        left = await session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.operator_id == alice.id)
        )
    assert credential is None
    assert left == 0


# -- workspaces that require MFA for admins -----------------------------------------------


async def _pending_admin(world: World) -> tuple[Account, dict[str, str]]:
    await world.workspace("secure", mfa_required=True)
    boss = await world.operator("boss", Role.ADMIN, slug="secure")
    response = await world.login(boss)
    assert response.status_code == 200, response.text
    assert response.json()["mfa_enrolment_required"] is True
    return boss, _bearer(response.json()["access_token"])


async def test_admin_without_mfa_gets_a_session_that_must_enrol(world: World) -> None:
    _boss, headers = await _pending_admin(world)
    me = await world.client.get(ME, headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["mfa_enrolment_required"] is True
    assert me.json()["permissions"] == ["self.manage"]
    assert (await world.client.get(STATUS, headers=headers)).status_code == 200
    for path in ADMIN_ENDPOINTS:
        response = await world.client.get(path, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert _code(response) == "mfa_enrolment_required", path
    for path, body in (
        ("/api/v1/api-keys", {"name": "backend"}),
        ("/api/v1/groups", {"name": "Sales"}),
        ("/api/v1/operators", {"username": "x", "password": PASSWORD, "role": "agent"}),
    ):
        response = await world.client.post(path, headers=headers, json=body)
        assert response.status_code == 403, (path, response.text)
        assert _code(response) == "mfa_enrolment_required", path
    patch = await world.client.patch(
        "/api/v1/workspace", headers=headers, json={"mfa_required_for_admins": False}
    )
    assert patch.status_code == 403
    assert _code(patch) == "mfa_enrolment_required"
    async with world.rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert await session.scalar(select(func.count()).select_from(Group)) == 0
        workspace = await session.scalar(select(Workspace).where(Workspace.slug == "secure"))
    assert workspace is not None and workspace.mfa_required_for_admins is True


async def test_after_enrolling_the_same_session_works_everywhere(world: World) -> None:
    _boss, headers = await _pending_admin(world)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    confirm = await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(secret)})
    assert confirm.status_code == 200, confirm.text
    for path in ADMIN_ENDPOINTS:
        response = await world.client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
    assert (await world.client.get("/api/v1/workspace", headers=headers)).json()["slug"] == "secure"
    me = (await world.client.get(ME, headers=headers)).json()
    assert me["mfa_enrolment_required"] is False
    assert "operators.manage" in me["permissions"]


async def test_admin_who_enrolled_signs_in_with_a_second_factor(world: World) -> None:
    boss, headers = await _pending_admin(world)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(secret)})
    _next_step()
    challenge = await _challenge(world, boss)
    response = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert response.status_code == 200
    assert response.json()["mfa_enrolment_required"] is False
    workspace = await world.client.get(
        "/api/v1/workspace", headers=_bearer(response.json()["access_token"])
    )
    assert workspace.status_code == 200


async def test_refreshing_a_pending_session_keeps_it_pending(world: World) -> None:
    await world.workspace("secure", mfa_required=True)
    boss = await world.operator("boss", Role.ADMIN, slug="secure")
    login = (await world.login(boss)).json()
    refreshed = await world.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login["refresh_token"]}
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["mfa_enrolment_required"] is True
    response = await world.client.get(
        "/api/v1/operators", headers=_bearer(refreshed.json()["access_token"])
    )
    assert response.status_code == 403
    assert _code(response) == "mfa_enrolment_required"


async def test_non_admins_of_such_a_workspace_need_not_enrol(world: World) -> None:
    await world.workspace("secure", mfa_required=True)
    agent = await world.operator("alice", Role.AGENT, slug="secure")
    response = await world.login(agent)
    assert response.status_code == 200
    assert response.json()["mfa_enrolment_required"] is False
    workspace = await world.client.get(
        "/api/v1/workspace", headers=_bearer(response.json()["access_token"])
    )
    assert workspace.status_code == 200


async def test_such_an_admin_cannot_disable_mfa(world: World) -> None:
    boss, headers = await _pending_admin(world)
    secret = (await world.client.post(ENROL, headers=headers)).json()["secret"]
    await world.client.post(CONFIRM, headers=headers, json={"code": totp_now(secret)})
    _next_step()
    response = await world.client.post(
        DISABLE, headers=headers, json={"password": PASSWORD, "code": totp_now(secret)}
    )
    assert response.status_code == 403, response.text
    assert _code(response) == "forbidden"
    await _assert_still_enabled(world, boss, headers)
    # The refused attempt did not spend the code either.
    ok = await world.client.post(
        MFA, json={"challenge": await _challenge(world, boss), "code": totp_now(secret)}
    )
    assert ok.status_code == 200, ok.text


async def test_requiring_mfa_applies_at_once_to_open_admin_sessions(world: World) -> None:
    root = await world.operator("root", Role.ADMIN)
    headers = await world.headers(root)
    assert (await world.client.get("/api/v1/operators", headers=headers)).status_code == 200
    turned_on = await world.client.patch(
        "/api/v1/workspace", headers=headers, json={"mfa_required_for_admins": True}
    )
    assert turned_on.status_code == 200, turned_on.text
    response = await world.client.get("/api/v1/operators", headers=headers)
    assert response.status_code == 403
    assert _code(response) == "mfa_enrolment_required"
    me = await world.client.get(ME, headers=headers)
    assert me.status_code == 200
    assert me.json()["mfa_enrolment_required"] is True


# -- single-use challenges and code normalisation ---------------------------------------------


async def _session_count(world: World) -> int:
    from confide.access.models import AuthSession

    async with world.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(AuthSession)) or 0)


async def test_a_completed_challenge_cannot_complete_a_second_sign_in(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    before = await _session_count(world)
    first = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert first.status_code == 200, first.text
    # The next step's code, within the challenge's 5 minutes, without the password: refused.
    _next_step()
    again = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert again.status_code == 401, again.text
    assert _code(again) == "invalid_token"
    assert "access_token" not in again.text
    assert await _session_count(world) == before + 1
    # The code it offered is not spent: a fresh challenge (with the password) takes it.
    fresh = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": totp_now(secret)}
    )
    assert fresh.status_code == 200, fresh.text


async def test_a_challenge_completed_with_a_recovery_code_is_spent_too(world: World) -> None:
    alice = await world.operator("alice")
    _secret, codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    first = await world.client.post(MFA, json={"challenge": challenge, "recovery_code": codes[0]})
    assert first.status_code == 200, first.text
    again = await world.client.post(MFA, json={"challenge": challenge, "recovery_code": codes[1]})
    assert again.status_code == 401
    assert _code(again) == "invalid_token"


async def test_a_wrong_code_does_not_spend_the_challenge(world: World) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    wrong = await world.client.post(MFA, json={"challenge": challenge, "code": _wrong_totp(secret)})
    assert wrong.status_code == 401 and _code(wrong) == "invalid_mfa_code"
    right = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert right.status_code == 200, right.text


@pytest.mark.parametrize("shape", ["{a} {b}", " {a}  {b} ", "{a}-{b}", "{a}\u00a0{b}"])
async def test_spaced_codes_are_accepted_by_the_api(world: World, shape: str) -> None:
    alice = await world.operator("alice")
    secret, _codes, _headers = await _enrol(world, alice)
    code = totp_now(secret)
    typed = shape.format(a=code[:3], b=code[3:])
    response = await world.client.post(
        MFA, json={"challenge": await _challenge(world, alice), "code": typed}
    )
    assert response.status_code == 200, (typed, response.text)


def test_code_normalisation_is_one_rule() -> None:
    from confide.access.mfa import normalise_totp_code

    assert normalise_totp_code("369 972") == "369972"
    assert normalise_totp_code("369-972") == "369972"
    assert normalise_totp_code("\uff13\uff16\uff19\uff19\uff17\uff12") == "369972"  # full width
    assert normalise_totp_code("\u0661\u0662\u0663\u0664\u0665\u0666") is None
    assert normalise_totp_code("36997") is None
    assert normalise_totp_code("abcde-fghjk") is None  # a recovery code
