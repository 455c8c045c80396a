"""Privacy test helpers: settings through the API, consent requests and decisions, table scans."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from sqlalchemy import select

from confide.access.models import Role
from confide.models import metadata
from confide.runtime import Runtime
from tests.chat.helpers import VisitorClient, new_visitor, start_chat
from tests.conftest import World


async def admin_headers(world: World, username: str = "ada") -> dict[str, str]:
    return await world.headers(await world.operator(username, Role.ADMIN))


async def set_privacy(
    client: httpx.AsyncClient, headers: dict[str, str], **settings: Any
) -> dict[str, Any]:
    response = await client.patch("/api/v1/workspace", json=settings, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["settings"]
    return data


async def publish(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    purpose: str,
    text: str,
    version: str = "1",
) -> dict[str, Any]:
    response = await client.put(
        f"/api/v1/consent/requests/{purpose}",
        json={"version": version, "text": text},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def decide(
    client: httpx.AsyncClient,
    visitor: VisitorClient,
    purpose: str,
    text: str,
    decision: str = "granted",
    version: str = "1",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        "/api/v1/widget/consent",
        json={
            "purpose": purpose,
            "version": version,
            "text_hash": hashlib.sha256(text.encode()).hexdigest(),
            "decision": decision,
            **extra,
        },
        headers=visitor.headers,
    )


async def every_row_as_text(rt: Runtime) -> str:
    """Every row of every table, rendered as text: what a copy of the database would show."""
    parts = []
    async with rt.db.session() as session:
        for table in metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts)


async def count_rows(rt: Runtime, table_name: str) -> int:
    async with rt.db.session() as session:
        return len((await session.execute(select(metadata.tables[table_name]))).all())


async def consented_chat(
    world: World, client: httpx.AsyncClient, chat_text: str, first: str = "Hello"
) -> tuple[dict[str, str], VisitorClient, str]:
    """A workspace that requires consent to chat (``chat_text`` published), and a visitor who
    granted it and started a chat: the admin's headers, the visitor, the conversation id."""
    admin = await admin_headers(world)
    await publish(client, admin, "chat", chat_text)
    await set_privacy(client, admin, consent_required=True)
    visitor = await new_visitor(client)
    assert (await decide(client, visitor, "chat", chat_text)).status_code == 201
    conversation_id = (await start_chat(client, visitor, first))["conversation"]["id"]
    return admin, visitor, conversation_id
