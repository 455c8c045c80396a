"""The live relay (transcripts off): in order, capped, forgotten on close; memory and Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from confide.realtime.fanout.relay import LiveRelay, MemoryLiveRelay, RedisLiveRelay

REDIS_URL = os.environ.get("CONFIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def relay(request: pytest.FixtureRequest) -> AsyncIterator[LiveRelay]:
    made: LiveRelay = (
        MemoryLiveRelay(ttl_seconds=60, max_messages=3)
        if request.param == "memory"
        else RedisLiveRelay(REDIS_URL, ttl_seconds=60, max_messages=3)
    )
    yield made
    await made.close()


async def test_the_relay_keeps_the_newest_messages_in_order_until_forgotten(
    relay: LiveRelay,
) -> None:
    conversation = uuid.uuid4()
    other = uuid.uuid4()
    for seq in (2, 1, 3, 4):
        await relay.remember(conversation, {"seq": seq, "body": f"message {seq}"})
    await relay.remember(other, {"seq": 1, "body": "elsewhere"})
    # At most three kept (the newest arrivals), returned in sequence order.
    assert [e["seq"] for e in await relay.recent(conversation)] == [1, 3, 4]
    await relay.forget(conversation)
    assert await relay.recent(conversation) == []
    assert [e["body"] for e in await relay.recent(other)] == ["elsewhere"]
    await relay.forget(other)
