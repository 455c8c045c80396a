"""The state changes that send mail leave their audit record too (a real SMTP server on
loopback receives the mail); the routes are classified in ``test_coverage.AUDITED``."""

from __future__ import annotations

import re

import httpx
import pytest

from confide.access.models import Role
from confide.core.config import Settings
from confide.jobs.worker import Worker
from confide.runtime import Runtime
from tests.audit.test_coverage import API, MAIL_ROUTES, Ledger
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World
from tests.mailbox import MailBox, mailbox_fixture, reset_token, with_smtp  # noqa: F401

pytestmark = pytest.mark.smtp


@pytest.fixture
def settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


async def test_every_mail_route_appends_its_record(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
) -> None:
    box = mailbox
    ledger = Ledger(rt)
    ada = await world.operator("ada", Role.ADMIN)
    await world.operator("eve", Role.AGENT, email="eve@example.test")
    admin = await world.headers(ada)
    eve_id = (await client.get(f"{API}/operators", headers=admin)).json()["operators"]
    eve = next(o["id"] for o in eve_id if o.get("username") == "eve")
    await ledger.drive(
        "POST",
        "/api/v1/auth/password-reset",
        lambda: client.post(
            f"{API}/auth/password-reset", json={"workspace": "acme", "email": "eve@example.test"}
        ),
    )
    token = reset_token((await box.wait_for(1))[0])
    await ledger.drive(
        "POST",
        "/api/v1/auth/password-reset/complete",
        lambda: client.post(
            f"{API}/auth/password-reset/complete",
            json={"token": token, "new_password": "a brand new passphrase 42"},
        ),
    )
    await ledger.drive(
        "POST",
        "/api/v1/operators/{operator_id}/password-reset",
        lambda: client.post(f"{API}/operators/{eve}/password-reset", headers=admin),
    )
    visitor = await new_visitor(client)
    chat = (await start_chat(client, visitor, "Hello"))["conversation"]["id"]
    await client.post(f"{API}/widget/conversations/{chat}/close", headers=visitor.headers)
    await ledger.drive(
        "POST",
        "/api/v1/widget/conversations/{conversation_id}/transcript",
        lambda: client.post(
            f"{API}/widget/conversations/{chat}/transcript",
            json={"email": "vera@example.test"},
            headers=visitor.headers,
        ),
    )
    # The privacy portal: a link to the address, then a request filed with it.
    asked = await client.post(f"{API}/portal/acme/link", json={"email": "rita@example.test"})
    assert asked.status_code == 202
    await Worker(rt).run(once=True)
    link = next(
        m for m, to in zip(box.messages, box.recipients, strict=True) if to == ["rita@example.test"]
    )
    token = re.search(r"#token=(\S+)", box.body(box.messages.index(link)))
    assert token is not None
    verified = await client.post(f"{API}/portal/acme/verify", json={"token": token.group(1)})
    session = verified.json()["session"]
    await ledger.drive(
        "POST",
        "/api/v1/portal/{workspace}/requests",
        lambda: client.post(
            f"{API}/portal/acme/requests",
            json={"kind": "access"},
            headers={"Authorization": f"Bearer {session}"},
        ),
    )
    assert ledger.seen == MAIL_ROUTES
