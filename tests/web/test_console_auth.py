"""Console sign-in goes through the API's handlers: audited, validated, never a 500."""

from __future__ import annotations

from sqlalchemy import select

from confide.access.models import Role
from confide.audit.models import AuditEvent
from tests.conftest import World
from tests.web.helpers import form_csrf, sign_in


async def _actions(world: World) -> list[str]:
    async with world.rt.db.session() as session:
        return list(
            (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
        )


async def test_console_sign_in_and_a_failed_attempt_are_audited(world: World) -> None:
    admin = await world.operator("root", Role.ADMIN)
    page = await world.client.get("/console/login")
    failed = await world.client.post(
        "/console/login",
        data={
            "csrf_token": form_csrf(page.text),
            "workspace": "acme",
            "username": "root",
            "password": "wrong password",
        },
    )
    assert failed.status_code == 401
    assert "auth.login_failed" in await _actions(world)
    await sign_in(world, admin)
    assert "auth.login" in await _actions(world)


async def test_over_long_sign_in_fields_are_refused_like_wrong_credentials(
    world: World,
) -> None:
    await world.operator("root", Role.ADMIN)
    page = await world.client.get("/console/login")
    for field, value in (("password", "x" * 5000), ("username", "u" * 500), ("username", "")):
        data = {
            "csrf_token": form_csrf(page.text),
            "workspace": "acme",
            "username": "root",
            "password": "whatever",
            field: value,
        }
        response = await world.client.post("/console/login", data=data)
        assert response.status_code == 401, (field, len(value))
        assert "The workspace, username or password is not correct." in response.text


async def test_a_malformed_second_factor_code_is_refused_on_the_form(world: World) -> None:
    from tests.conftest import totp_now

    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post("/api/v1/me/mfa/enrol", headers=headers)).json()["secret"]
    confirmed = await world.client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    assert confirmed.status_code == 200
    page = await world.client.get("/console/login")
    challenge_page = await world.client.post(
        "/console/login",
        data={
            "csrf_token": form_csrf(page.text),
            "workspace": "acme",
            "username": "alice",
            "password": alice.password,
        },
    )
    assert challenge_page.status_code == 200 and "Two-factor verification" in challenge_page.text
    challenge = challenge_page.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
    response = await world.client.post(
        "/console/mfa",
        data={"csrf_token": form_csrf(challenge_page.text), "challenge": challenge, "code": "1"},
    )
    assert response.status_code == 401
    assert "Two-factor verification" in response.text
    assert "auth.mfa_challenge" in await _actions(world)


async def test_enrolling_mfa_in_the_console_is_audited_and_a_bad_code_is_refused(
    world: World,
) -> None:
    import re

    from confide.core import clock
    from tests.conftest import totp_now

    clock.advance(-3600)
    alice = await world.operator("alice")
    await sign_in(world, alice)
    page = await world.client.get("/console/mfa/enrol")
    secret = re.search(r'<code class="secret">([^<]+)</code>', page.text)
    assert secret
    bad = await world.client.post(
        "/console/mfa/enrol", data={"csrf_token": form_csrf(page.text), "code": "12"}
    )
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    # The same key and its QR code are shown again: the authenticator already holds that key.
    again = re.search(r'<code class="secret">([^<]+)</code>', bad.text)
    assert again and again.group(1) == secret.group(1)
    assert 'aria-label="QR code of the setup key"' in bad.text
    good = await world.client.post(
        "/console/mfa/enrol",
        data={"csrf_token": form_csrf(page.text), "code": totp_now(secret.group(1))},
    )
    assert good.status_code == 200 and "Two-factor authentication is on." in good.text
    assert "auth.mfa_enabled" in await _actions(world)


async def test_the_console_accepts_a_spaced_code_like_the_api(world: World) -> None:
    from confide.access.models import Operator
    from confide.core import clock
    from tests.conftest import totp_now

    alice = await world.operator("alice")
    headers = await world.headers(alice)
    secret = (await world.client.post("/api/v1/me/mfa/enrol", headers=headers)).json()["secret"]
    confirmed = await world.client.post(
        "/api/v1/me/mfa/confirm", headers=headers, json={"code": totp_now(secret)}
    )
    assert confirmed.status_code == 200
    clock.advance(30)  # the enrolment code is spent; the next step's code is fresh
    page = await world.client.get("/console/login")
    challenge_page = await world.client.post(
        "/console/login",
        data={
            "csrf_token": form_csrf(page.text),
            "workspace": "acme",
            "username": "alice",
            "password": alice.password,
        },
    )
    challenge = challenge_page.text.split('name="challenge" value="', 1)[1].split('"', 1)[0]
    code = totp_now(secret)
    response = await world.client.post(
        "/console/mfa",
        data={
            "csrf_token": form_csrf(challenge_page.text),
            "challenge": challenge,
            "code": f"{code[:3]} {code[3:]}",
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/"
    assert "auth.mfa_failed" not in await _actions(world)
    async with world.rt.db.session() as session:
        operator = await session.get(Operator, alice.id)
    assert operator is not None and operator.failed_login_count == 0
