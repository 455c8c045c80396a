"""Two workers on PostgreSQL never take the same batch: runs going at once (two on the same
run, one on a run of its own) destroy every due conversation exactly once and count it once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from confide.chat.models import Conversation
from confide.core import clock
from confide.privacy.retention.models import ConversationStatistics, RetentionRunCount
from confide.privacy.retention.run import run_batch, start_run
from confide.runtime import Runtime
from tests.conftest import World
from tests.privacy.helpers import admin_headers, set_privacy
from tests.privacy.retention_helpers import count, seed_conversation

pytestmark = pytest.mark.postgres


async def _drive(rt: Runtime, run_id: uuid.UUID) -> int:
    handled = 0
    done = False
    while not done:
        async with rt.db.transaction() as tx:
            items, done = await run_batch(rt, tx, run_id, batch_size=1)
        handled += items
    return handled


async def test_concurrent_runs_destroy_and_count_each_conversation_once(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, retention_days={"web": 1}, archive_days={"web": 0})
    for _ in range(8):
        await seed_conversation(rt, client, admin)
    as_of = clock.utcnow() + timedelta(days=2)
    async with rt.db.transaction() as tx:
        shared = (await start_run(rt, tx, as_of)).id
        own = (await start_run(rt, tx, as_of)).id
    await asyncio.gather(_drive(rt, shared), _drive(rt, shared), _drive(rt, own))
    assert await count(rt, Conversation) == 0
    assert await count(rt, ConversationStatistics) == 8
    async with rt.db.session() as session:
        destroyed = await session.scalar(select(func.sum(RetentionRunCount.destroyed)))
        erased = await session.scalar(select(func.sum(RetentionRunCount.visitors_erased)))
    assert (destroyed, erased) == (8, 8)
