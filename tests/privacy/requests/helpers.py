"""Helpers for the data-subject request tests: an identified visitor with a conversation, the
portal's link from the mail, running the job worker."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from confide.access.models import Role
from confide.jobs.worker import Worker
from confide.runtime import Runtime
from tests.chat.helpers import VisitorClient, new_visitor, start_chat
from tests.conftest import World

EMAIL = "quill.dsrtester@example.invalid"
NAME = "Quill Dsrtester"
PHRASE = "saffron-otter-ledger-4417"
ADMIN_EMAIL = "ada@example.invalid"


@dataclass
class Person:
    visitor: VisitorClient
    visitor_id: str
    conversation_id: str


async def admin(world: World) -> dict[str, str]:
    """Headers of a new admin, ada (signed in again with ``world.headers(world.ada)`` once
    simulated time has passed her token's expiry)."""
    world.ada = await world.operator("ada", Role.ADMIN, email=ADMIN_EMAIL)  # type: ignore[attr-defined]
    return await world.headers(world.ada)  # type: ignore[attr-defined]


async def identified_visitor(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    *,
    email: str = EMAIL,
    name: str = NAME,
    text: str = f"My code is {PHRASE}",
    group_id: Any = None,
) -> Person:
    """A widget visitor with a conversation, identified by the host site with ``email``."""
    key = (
        await client.post("/api/v1/api-keys", json={"name": "site"}, headers=admin_headers)
    ).json()["key"]
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, text, group_id=group_id)
    identify = await client.post(
        "/api/v1/visitors/identify",
        json={"vuid": visitor.vuid, "email": email, "name": name},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert identify.status_code == 200, identify.text
    conversation = chat["conversation"]
    return Person(visitor, conversation["visitor_id"], conversation["id"])


def portal_token(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"/privacy/[a-z0-9-]+#token=([A-Za-z0-9_.\-]+)", body.get_content())
    assert found, "the mail has no portal link"
    return found.group(1)


async def run_jobs(rt: Runtime) -> int:
    """Run every due job once (mails leave through the outbox here)."""
    return await Worker(rt).run(once=True)
