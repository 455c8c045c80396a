"""Password change and reset by e-mail, through the API, with a real SMTP server on loopback."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from confide.access.models import PasswordResetToken, Role
from confide.audit.models import AuditEvent
from confide.core import clock
from confide.core.config import Settings
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, reset_token, with_smtp  # noqa: F401

pytestmark = pytest.mark.smtp
NEW_PASSWORD = "a brand new passphrase 42"
RESET = "/api/v1/auth/password-reset"


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox).with_overrides(password_resets_per_hour=3)


async def _tokens(world: World) -> int:
    async with world.rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(PasswordResetToken)) or 0)


async def test_reset_by_mail_works_once_and_ends_every_session(
    world: World,
    mailbox: MailBox,
) -> None:
    box = mailbox
    ada = await world.operator("ada", Role.AGENT, name="Ada", email="Ada@Example.test")
    old_session = await world.headers(ada)

    asked = await world.client.post(RESET, json={"workspace": "acme", "email": "ada@example.test"})
    assert asked.status_code == 202
    [mail] = await box.wait_for(1)
    assert box.recipients == [["Ada@Example.test"]]
    assert mail["Subject"] == "Reset your Confide password"
    token = reset_token(mail)
    assert "http://confide.example.test/console/password/reset#token=" in mail.get_content()
    # Only a keyed hash is stored.
    async with world.rt.db.session() as session:
        stored = (await session.scalars(select(PasswordResetToken.token_hash))).all()
    assert len(stored) == 1 and token not in stored[0]

    weak = await world.client.post(
        f"{RESET}/complete", json={"token": token, "new_password": "short"}
    )
    assert weak.status_code == 422 and weak.json()["error"]["field"] == "new_password"
    done = await world.client.post(
        f"{RESET}/complete", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204, done.text
    again = await world.client.post(
        f"{RESET}/complete", json={"token": token, "new_password": "another good passphrase"}
    )
    assert again.status_code == 401 and again.json()["error"]["code"] == "reset_link_invalid"

    assert (await world.client.get("/api/v1/me", headers=old_session)).status_code == 401
    assert (await world.login(ada)).status_code == 401
    assert (await world.login(replace(ada, password=NEW_PASSWORD))).status_code == 200
    async with world.rt.db.session() as session:
        actions = set((await session.scalars(select(AuditEvent.action))).all())
    assert {"auth.password_reset_requested", "auth.password_reset"} <= actions


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    world: World,
    mailbox: MailBox,
) -> None:
    box = mailbox
    await world.operator("ada", Role.AGENT, email="ada@example.test")
    unknown = await world.client.post(
        RESET, json={"workspace": "acme", "email": "nobody@example.test"}
    )
    no_workspace = await world.client.post(
        RESET, json={"workspace": "nowhere", "email": "ada@example.test"}
    )
    known = await world.client.post(RESET, json={"workspace": "acme", "email": "ada@example.test"})
    assert unknown.status_code == no_workspace.status_code == known.status_code == 202
    assert unknown.json() == no_workspace.json() == known.json()
    # The known address's mail arrives, and it is the only one: the others sent nothing.
    await box.wait_for(1)
    assert box.recipients == [["ada@example.test"]]
    assert await _tokens(world) == 1


async def test_reset_links_expire_and_a_newer_one_replaces_the_older(
    world: World,
    mailbox: MailBox,
) -> None:
    box = mailbox
    await world.operator("ada", Role.AGENT, email="ada@example.test")
    body = {"workspace": "acme", "email": "ada@example.test"}
    await world.client.post(RESET, json=body)
    first = reset_token((await box.wait_for(1))[0])
    # Mails leave in the background: wait for the first before asking again, so which link is
    # the older one does not depend on which mail the server happened to send first.
    await world.client.post(RESET, json=body)
    second = next(t for t in map(reset_token, await box.wait_for(2)) if t != first)
    replaced = await world.client.post(
        f"{RESET}/complete", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert replaced.status_code == 401
    clock.advance(world.rt.settings.password_reset_ttl_seconds + 1)
    expired = await world.client.post(
        f"{RESET}/complete", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert expired.status_code == 401


async def test_reset_requests_are_rate_limited_per_address(
    world: World,
    mailbox: MailBox,
) -> None:
    await world.operator("ada", Role.AGENT, email="ada@example.test")
    body = {"workspace": "acme", "email": "ada@example.test"}
    answers = [(await world.client.post(RESET, json=body)).status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]
    await mailbox.wait_for(3)
    assert await _tokens(world) == 3


async def test_an_admin_sends_a_reset_link_and_an_agent_may_not(
    world: World,
    mailbox: MailBox,
) -> None:
    box = mailbox
    admin = await world.operator("root", Role.ADMIN)
    ada = await world.operator("ada", Role.AGENT, email="ada@example.test")
    bob = await world.operator("bob", Role.AGENT)
    refused = await world.client.post(
        f"/api/v1/operators/{bob.id}/password-reset", headers=await world.headers(ada)
    )
    assert refused.status_code == 403
    headers = await world.headers(admin)
    no_address = await world.client.post(
        f"/api/v1/operators/{bob.id}/password-reset", headers=headers
    )
    assert no_address.status_code == 422 and no_address.json()["error"]["field"] == "email"
    sent = await world.client.post(f"/api/v1/operators/{ada.id}/password-reset", headers=headers)
    assert sent.status_code == 202, sent.text
    [mail] = await box.wait_for(1)
    assert box.recipients == [["ada@example.test"]]
    done = await world.client.post(
        f"{RESET}/complete", json={"token": reset_token(mail), "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204


async def test_without_smtp_the_reset_says_to_ask_an_admin(world: World) -> None:
    world.rt.settings = world.rt.settings.with_overrides(smtp_host=None)
    await world.operator("ada", Role.AGENT, email="ada@example.test")
    answer = await world.client.post(RESET, json={"workspace": "acme", "email": "x@example.test"})
    assert answer.status_code == 409
    assert "ask an admin" in answer.json()["error"]["message"]
    assert await _tokens(world) == 0
