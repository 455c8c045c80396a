"""PostgreSQL without a ping before every checkout: a message sent on a pooled connection the
server has dropped (a restart, an idle timeout) is still stored once and acknowledged, either
because the idle connection is pinged and replaced, or because the send retries once on a
fresh connection."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select, text

from confide.chat.messages import do_send_message
from confide.chat.models import Message
from confide.chat.visitors import authenticate_visitor_token
from confide.core import db as core_db
from confide.core.db import Database
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World

pytestmark = pytest.mark.postgres


async def _drop_pooled_connections(rt: Runtime) -> int:
    """From another engine, terminate every other session of this database (the pool's
    connections among them), as a server restart would."""
    admin = Database(rt.settings.resolved_database_url)
    try:
        async with admin.engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return int(result.scalar_one())
    finally:
        await admin.dispose()


@pytest.mark.parametrize("ping_after_idle_seconds", [3600.0, 0.0], ids=["retry", "ping"])
async def test_a_message_sent_on_a_dropped_connection_is_stored_once(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    ping_after_idle_seconds: float,
) -> None:
    monkeypatch.setattr(core_db, "PING_AFTER_IDLE_SECONDS", ping_after_idle_seconds)
    await world.workspace()
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, "Hello")
    conversation_id = uuid.UUID(chat["conversation"]["id"])
    principal = await authenticate_visitor_token(rt, visitor.token)
    await do_send_message(rt, principal, conversation_id, client_id="before", body="one")

    assert await _drop_pooled_connections(rt) >= 1
    sent = await do_send_message(rt, principal, conversation_id, client_id="after", body="two")

    assert not sent.duplicate and sent.message["seq"] == 3
    async with rt.db.session() as session:
        seqs = (
            await session.scalars(
                select(Message.seq)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.seq)
            )
        ).all()
    assert list(seqs) == [1, 2, 3]
