"""Account lockout: repeated failed passwords or second factors lock the account for a while.

The ``settings`` fixture sets ``lockout_threshold=3``; window and duration are the defaults.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from confide.access.models import Operator, Role
from confide.core import clock
from confide.core.config import Settings
from confide.runtime import Runtime
from tests.conftest import Account, World, totp_now

WRONG_PASSWORD = "not the right passphrase"
MFA = "/api/v1/auth/mfa"
REWIND_SECONDS = 3600


@pytest.fixture(autouse=True)
def _threshold_is_three(settings: Settings) -> None:
    # Every count in this file assumes it; fail loudly if the fixture ever changes.
    assert settings.lockout_threshold == 3


@pytest.fixture(autouse=True)
def _clock_behind_the_wall_clock(rt: Runtime) -> None:
    # Tokens are decoded by PyJWT, which also checks "iat" against the *wall* clock (see
    # test_refresh.py::test_token_issued_while_the_clock_runs_ahead_is_accepted). Starting an
    # hour in the past lets these tests move confide's clock forward and still use fresh tokens.
    clock.advance(-REWIND_SECONDS)


def _wrong(account: Account) -> Account:
    return Account(account.id, account.workspace, account.username, WRONG_PASSWORD)


def _code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def _assert_locked(response: httpx.Response, duration: int) -> int:
    assert response.status_code == 429, response.text
    assert _code(response) == "account_locked"
    assert "access_token" not in response.text
    assert "challenge" not in response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= duration
    return retry_after


async def _fail_password(world: World, account: Account, times: int) -> list[httpx.Response]:
    return [await world.login(_wrong(account)) for _ in range(times)]


async def _locked_until(world: World, account: Account) -> Any:
    async with world.rt.db.session() as session:
        operator = await session.get(Operator, account.id)
    assert operator is not None
    return operator.locked_until


def _next_step() -> None:
    """Move to just after the start of the next 30-second TOTP step, so codes computed now
    stay valid for the rest of the test and the step of the enrolment code is spent."""
    now = clock.utcnow().timestamp()
    clock.advance(30 - now % 30 + 0.5)


def _wrong_totp(secret: str) -> str:
    valid = {totp_now(secret, k) for k in range(-3, 4)}
    return next(c for c in (f"{i:06d}" for i in range(100)) if c not in valid)


async def _enrol(world: World, account: Account) -> str:
    headers = await world.headers(account)
    enrol = await world.client.post("/api/v1/me/mfa/enrol", headers=headers)
    assert enrol.status_code == 200, enrol.text
    secret: str = enrol.json()["secret"]
    confirm = await world.client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    assert confirm.status_code == 200, confirm.text
    _next_step()
    return secret


async def _challenge(world: World, account: Account) -> str:
    response = await world.login(account)
    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is True
    challenge: str = response.json()["challenge"]
    return challenge


async def test_three_wrong_passwords_lock_the_account_even_for_the_right_password(
    world: World,
) -> None:
    alice = await world.operator("alice")
    duration = world.rt.settings.lockout_duration_seconds
    first, second, third = await _fail_password(world, alice, 3)
    assert [first.status_code, second.status_code] == [401, 401]
    assert _code(first) == _code(second) == "invalid_credentials"
    assert "retry-after" not in first.headers
    # The failure that reaches the threshold already answers "locked".
    _assert_locked(third, duration)
    assert await _locked_until(world, alice) is not None

    right = await world.login(alice)
    _assert_locked(right, duration)


async def test_retry_after_counts_down_to_the_end_of_the_lock(world: World) -> None:
    alice = await world.operator("alice")
    duration = world.rt.settings.lockout_duration_seconds
    await _fail_password(world, alice, 3)
    assert _assert_locked(await world.login(alice), duration) >= duration - 5
    clock.advance(duration - 300)
    later = _assert_locked(await world.login(alice), duration)
    assert 295 <= later <= 300


async def test_lock_ends_after_the_lockout_duration(world: World) -> None:
    alice = await world.operator("alice")
    duration = world.rt.settings.lockout_duration_seconds
    await _fail_password(world, alice, 3)
    clock.advance(duration - 5)
    _assert_locked(await world.login(alice), duration)  # not yet
    clock.advance(6)
    response = await world.login(alice)
    assert response.status_code == 200, response.text
    me = await world.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.status_code == 200


async def test_lock_expires_after_duration_plus_one_second(world: World) -> None:
    alice = await world.operator("alice")
    await _fail_password(world, alice, 3)
    clock.advance(world.rt.settings.lockout_duration_seconds + 1)
    assert (await world.login(alice)).status_code == 200


async def test_after_a_lock_expires_the_count_starts_again_from_zero(world: World) -> None:
    alice = await world.operator("alice")
    await _fail_password(world, alice, 3)
    clock.advance(world.rt.settings.lockout_duration_seconds + 1)
    again = await _fail_password(world, alice, 2)
    assert [r.status_code for r in again] == [401, 401]
    assert (await world.login(alice)).status_code == 200


async def test_wrong_passwords_during_a_lock_do_not_extend_it(world: World) -> None:
    alice = await world.operator("alice")
    duration = world.rt.settings.lockout_duration_seconds
    await _fail_password(world, alice, 3)
    until = await _locked_until(world, alice)
    clock.advance(duration - 60)
    for response in await _fail_password(world, alice, 3):
        _assert_locked(response, duration)
    assert await _locked_until(world, alice) == until
    clock.advance(61)
    assert (await world.login(alice)).status_code == 200


async def test_failures_older_than_the_window_do_not_accumulate(world: World) -> None:
    alice = await world.operator("alice")
    window = world.rt.settings.lockout_window_seconds
    assert [r.status_code for r in await _fail_password(world, alice, 2)] == [401, 401]
    clock.advance(window + 1)
    assert [r.status_code for r in await _fail_password(world, alice, 2)] == [401, 401]
    assert await _locked_until(world, alice) is None
    assert (await world.login(alice)).status_code == 200


async def test_failures_spread_within_the_window_do_accumulate(world: World) -> None:
    alice = await world.operator("alice")
    window = world.rt.settings.lockout_window_seconds
    await _fail_password(world, alice, 1)
    clock.advance(window - 30)
    await _fail_password(world, alice, 1)
    clock.advance(10)
    _assert_locked(
        (await _fail_password(world, alice, 1))[0], world.rt.settings.lockout_duration_seconds
    )


async def test_a_successful_sign_in_clears_earlier_failures(world: World) -> None:
    alice = await world.operator("alice")
    await _fail_password(world, alice, 2)
    assert (await world.login(alice)).status_code == 200
    assert [r.status_code for r in await _fail_password(world, alice, 2)] == [401, 401]
    assert (await world.login(alice)).status_code == 200


async def test_lockout_counts_attempts_whatever_the_username_case(world: World) -> None:
    alice = await world.operator("alice")
    for spelling in ("ALICE", "Alice", "alice"):
        last = await world.login(Account(alice.id, "acme", spelling, WRONG_PASSWORD))
    _assert_locked(last, world.rt.settings.lockout_duration_seconds)
    _assert_locked(await world.login(alice), world.rt.settings.lockout_duration_seconds)


async def test_lock_is_per_account(world: World) -> None:
    alice = await world.operator("alice")
    bob = await world.operator("bob")
    await _fail_password(world, alice, 3)
    assert (await world.login(bob)).status_code == 200


async def test_unknown_usernames_never_answer_locked(world: World) -> None:
    await world.workspace("acme")
    ghost = Account(uuid.uuid4(), "acme", "ghost", WRONG_PASSWORD)
    for response in [await world.login(ghost) for _ in range(5)]:
        assert response.status_code == 401
        assert _code(response) == "invalid_credentials"


async def test_admin_unlocks_a_locked_operator(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    admin_headers = await world.headers(admin)
    alice = await world.operator("alice")
    await _fail_password(world, alice, 3)
    view = await world.client.get(f"/api/v1/operators/{alice.id}", headers=admin_headers)
    assert view.json()["locked"] is True

    unlock = await world.client.post(f"/api/v1/operators/{alice.id}/unlock", headers=admin_headers)
    assert unlock.status_code == 204, unlock.text
    assert await _locked_until(world, alice) is None
    view = await world.client.get(f"/api/v1/operators/{alice.id}", headers=admin_headers)
    assert view.json()["locked"] is False
    assert (await world.login(alice)).status_code == 200


async def test_unlock_also_forgets_the_failures_so_far(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    alice = await world.operator("alice")
    await _fail_password(world, alice, 2)
    unlock = await world.client.post(
        f"/api/v1/operators/{alice.id}/unlock", headers=await world.headers(admin)
    )
    assert unlock.status_code == 204
    assert [r.status_code for r in await _fail_password(world, alice, 2)] == [401, 401]


async def test_an_agent_cannot_unlock_anyone(world: World) -> None:
    bob = await world.operator("bob")
    bob_headers = await world.headers(bob)
    alice = await world.operator("alice")
    await _fail_password(world, alice, 3)
    response = await world.client.post(f"/api/v1/operators/{alice.id}/unlock", headers=bob_headers)
    assert response.status_code in (403, 404), response.text
    assert await _locked_until(world, alice) is not None
    _assert_locked(await world.login(alice), world.rt.settings.lockout_duration_seconds)


async def test_failed_mfa_codes_count_towards_lockout(world: World) -> None:
    alice = await world.operator("alice")
    secret = await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    wrong = _wrong_totp(secret)
    for _ in range(2):
        response = await world.client.post(MFA, json={"challenge": challenge, "code": wrong})
        assert response.status_code == 401, response.text
        assert _code(response) == "invalid_mfa_code"
    third = await world.client.post(MFA, json={"challenge": challenge, "code": wrong})
    duration = world.rt.settings.lockout_duration_seconds
    _assert_locked(third, duration)
    # Locked: neither the right code on the open challenge nor the password gets in.
    right = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    _assert_locked(right, duration)
    _assert_locked(await world.login(alice), duration)
    # ... and the right code was not spent by the refused attempt: after the lock it works.
    clock.advance(duration + 1)
    challenge = await _challenge(world, alice)
    ok = await world.client.post(MFA, json={"challenge": challenge, "code": totp_now(secret)})
    assert ok.status_code == 200, ok.text
    assert ok.json()["access_token"]


async def test_failed_recovery_codes_count_towards_lockout(world: World) -> None:
    alice = await world.operator("alice")
    await _enrol(world, alice)
    challenge = await _challenge(world, alice)
    responses = [
        await world.client.post(MFA, json={"challenge": challenge, "recovery_code": "aaaaa-bbbbb"})
        for _ in range(3)
    ]
    assert [r.status_code for r in responses] == [401, 401, 429]
    _assert_locked(responses[2], world.rt.settings.lockout_duration_seconds)


async def test_signing_in_again_does_not_reset_failed_mfa_codes(world: World) -> None:
    alice = await world.operator("alice")
    secret = await _enrol(world, alice)
    wrong = _wrong_totp(secret)
    challenge = await _challenge(world, alice)
    for _ in range(2):
        response = await world.client.post(MFA, json={"challenge": challenge, "code": wrong})
        assert response.status_code == 401
    # The password is right, so a new challenge is issued, but the second factor's failures stand.
    challenge = await _challenge(world, alice)
    third = await world.client.post(MFA, json={"challenge": challenge, "code": wrong})
    _assert_locked(third, world.rt.settings.lockout_duration_seconds)


async def test_wrong_passwords_and_wrong_codes_add_up(world: World) -> None:
    alice = await world.operator("alice")
    secret = await _enrol(world, alice)
    await _fail_password(world, alice, 2)
    challenge = await _challenge(world, alice)
    response = await world.client.post(
        MFA, json={"challenge": challenge, "code": _wrong_totp(secret)}
    )
    _assert_locked(response, world.rt.settings.lockout_duration_seconds)
