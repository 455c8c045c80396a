"""The Redis broker and rate limiter against a real Redis: two brokers stand for two nodes.

Every test uses its own channel names (uuid) so runs never hear each other; the connection
kills target only this test's own pub/sub connections (tagged with a unique client name).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from confide.realtime.fanout import limits
from confide.realtime.fanout.broker import LAGGED_EVENT, Subscription
from confide.realtime.fanout.redis import PREFIX, RedisBroker

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("CONFIDE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TIMEOUT = 5.0


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client: aioredis.Redis = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(client.ping(), 2)
    except (RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    yield client
    await client.aclose()


MakeBroker = Callable[..., Awaitable[RedisBroker]]


@pytest.fixture
async def make_broker(redis_client: aioredis.Redis) -> AsyncIterator[MakeBroker]:
    made: list[RedisBroker] = []

    async def make(url: str = REDIS_URL) -> RedisBroker:
        broker = RedisBroker(url)
        made.append(broker)
        await asyncio.wait_for(broker.start(), TIMEOUT)
        return broker

    yield make
    for broker in made:
        await asyncio.wait_for(broker.close(), TIMEOUT)


def channel_name() -> str:
    return f"conv:{uuid.uuid4()}"


def named(url: str, name: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}client_name={name}"


async def next_event(subscription: Subscription, timeout: float = TIMEOUT) -> tuple[str, Any]:
    return await asyncio.wait_for(subscription.get(), timeout)


async def nothing_for(subscription: Subscription, seconds: float = 0.3) -> None:
    try:
        item = await asyncio.wait_for(subscription.get(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no event, got {item!r}")


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def numsub(client: aioredis.Redis, channel: str) -> int:
    [(_, count)] = await client.pubsub_numsub(PREFIX + channel)
    return int(count)


async def redis_channels(client: aioredis.Redis, channel: str) -> list[bytes | str]:
    return list(await client.pubsub_channels(PREFIX + channel))


async def pubsub_client_ids(client: aioredis.Redis, name: str) -> list[str]:
    clients = await client.client_list(_type="pubsub")
    return [str(c["id"]) for c in clients if c.get("name") == name]


# -- fan-out across nodes ------------------------------------------------------------------


async def test_publish_on_one_node_reaches_a_subscriber_on_another(
    make_broker: MakeBroker,
) -> None:
    node_a, node_b = await make_broker(), await make_broker()
    channel, other = channel_name(), channel_name()
    subscription = node_b.subscription()
    await subscription.add(channel)
    await node_a.publish(other, {"type": "message", "seq": 99})  # nobody listens to this one
    await node_a.publish(channel, {"type": "message", "seq": 1, "body": "hé ✓"})
    await node_a.publish(channel, {"type": "message", "seq": 2})

    assert await next_event(subscription) == (
        channel,
        {"type": "message", "seq": 1, "body": "hé ✓"},
    )
    assert await next_event(subscription) == (channel, {"type": "message", "seq": 2})
    await nothing_for(subscription)
    await subscription.close()


async def test_every_node_subscribed_to_a_channel_receives_it(make_broker: MakeBroker) -> None:
    node_a, node_b, node_c = await make_broker(), await make_broker(), await make_broker()
    channel = channel_name()
    on_a, on_b = node_a.subscription(), node_b.subscription()
    await on_a.add(channel)
    await on_b.add(channel)
    await node_c.publish(channel, {"n": 1})
    assert await next_event(on_a) == (channel, {"n": 1})
    assert await next_event(on_b) == (channel, {"n": 1})
    await on_a.close()
    await on_b.close()


async def test_a_channel_is_subscribed_in_redis_only_while_a_local_subscriber_exists(
    make_broker: MakeBroker, redis_client: aioredis.Redis
) -> None:
    node_a, node_b = await make_broker(), await make_broker()
    channel = channel_name()
    assert await redis_channels(redis_client, channel) == []

    first, second = node_a.subscription(), node_a.subscription()
    await first.add(channel)

    async def subscribed_by(count: int) -> bool:
        return await numsub(redis_client, channel) == count

    await wait_until(lambda: subscribed_by(1))
    assert await redis_channels(redis_client, channel) == [(PREFIX + channel).encode()]

    await second.add(channel)  # a second local socket costs no second Redis subscription
    on_b = node_b.subscription()
    await on_b.add(channel)  # but another node subscribes for itself
    await wait_until(lambda: subscribed_by(2))

    await first.remove(channel)  # `second` still listens on node A
    await on_b.close()
    await wait_until(lambda: subscribed_by(1))
    await node_b.publish(channel, {"n": 1})
    assert await next_event(second) == (channel, {"n": 1})
    await nothing_for(first)

    await second.close()  # the last local listener is gone
    await wait_until(lambda: subscribed_by(0))
    assert await redis_channels(redis_client, channel) == []
    assert node_a.local_subscriber_count == 0


async def test_a_removed_subscriber_stops_receiving(make_broker: MakeBroker) -> None:
    node_a, node_b = await make_broker(), await make_broker()
    kept_channel, dropped_channel = channel_name(), channel_name()
    leaving, staying = node_b.subscription(), node_b.subscription()
    await leaving.add(kept_channel, dropped_channel)
    await staying.add(dropped_channel)

    await node_a.publish(dropped_channel, {"n": 1})
    assert await next_event(leaving) == (dropped_channel, {"n": 1})
    assert await next_event(staying) == (dropped_channel, {"n": 1})

    await leaving.remove(dropped_channel)
    await node_a.publish(dropped_channel, {"n": 2})
    await node_a.publish(kept_channel, {"n": 3})
    assert await next_event(staying) == (dropped_channel, {"n": 2})
    assert await next_event(leaving) == (kept_channel, {"n": 3})  # not {"n": 2}
    await nothing_for(leaving)
    await leaving.close()
    await staying.close()


# -- losing the connection -----------------------------------------------------------------


async def test_killed_pubsub_connection_reconnects_resubscribes_and_flags_lag(
    make_broker: MakeBroker, redis_client: aioredis.Redis
) -> None:
    name = f"confide-test-{uuid.uuid4().hex[:12]}"
    node_a, node_b = await make_broker(), await make_broker(named(REDIS_URL, name))
    channel = channel_name()
    subscription = node_b.subscription()
    await subscription.add(channel)
    await node_a.publish(channel, {"n": 1})
    assert await next_event(subscription) == (channel, {"n": 1})
    assert subscription.lagged is False

    before = await pubsub_client_ids(redis_client, name)
    assert len(before) == 1
    killed = await redis_client.client_kill_filter(_id=before[0], _type="pubsub")
    assert killed == 1

    # The reader notices, reconnects, re-subscribes and wakes the subscriber with a lag mark.
    assert await next_event(subscription) == ("", LAGGED_EVENT)
    assert subscription.lagged is True
    after = await pubsub_client_ids(redis_client, name)
    assert len(after) == 1 and after != before

    async def resubscribed() -> bool:
        return await numsub(redis_client, channel) == 1

    await wait_until(resubscribed)
    await node_a.publish(channel, {"n": 2})
    assert await next_event(subscription) == (channel, {"n": 2})
    await subscription.close()


class Proxy:
    """A TCP relay on loopback in front of Redis that can be cut and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()
        await asyncio.wait_for(self.server.wait_closed(), TIMEOUT)
        self.server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.close()
            return
        self.writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_broker_recovers_after_redis_was_unreachable_for_a_while(
    make_broker: MakeBroker,
) -> None:
    target = urlparse(REDIS_URL)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    try:
        node_a = await make_broker()
        node_b = await make_broker(f"redis://127.0.0.1:{proxy.port}/0")
        channel = channel_name()
        subscription = node_b.subscription()
        await subscription.add(channel)
        await node_a.publish(channel, {"n": 1})
        assert await next_event(subscription) == (channel, {"n": 1})

        await proxy.stop()  # node B loses Redis; reconnecting is refused for a while
        await asyncio.sleep(1.0)
        await node_a.publish(channel, {"n": 2})  # nobody on node B hears this one
        await nothing_for(subscription, 0.2)
        assert subscription.lagged is False
        await proxy.start()  # same port: Redis is back

        assert await next_event(subscription, 10.0) == ("", LAGGED_EVENT)
        assert subscription.lagged is True  # the socket will resume from the database
        deadline = time.monotonic() + TIMEOUT
        while True:  # the re-subscription may reach Redis a moment after the lag mark
            await node_a.publish(channel, {"n": 3})
            with contextlib.suppress(TimeoutError):
                assert await next_event(subscription, 0.2) == (channel, {"n": 3})
                break
            assert time.monotonic() < deadline, "node B never heard from Redis again"
        await subscription.close()
    finally:
        if proxy.server is not None:
            await proxy.stop()


async def test_after_an_outage_exactly_the_live_channels_come_back_on_one_connection(
    make_broker: MakeBroker, redis_client: aioredis.Redis
) -> None:
    target = urlparse(REDIS_URL)
    proxy = Proxy(target.hostname or "127.0.0.1", target.port or 6379)
    await proxy.start()
    name = f"confide-test-{uuid.uuid4().hex[:12]}"
    try:
        node = await make_broker(named(f"redis://127.0.0.1:{proxy.port}/0", name))
        kept, ended = channel_name(), channel_name()
        staying, leaving = node.subscription(), node.subscription()
        await staying.add(kept)
        await leaving.add(ended)

        async def both_subscribed() -> bool:
            return await numsub(redis_client, kept) == 1 and await numsub(redis_client, ended) == 1

        await wait_until(both_subscribed)
        epoch = node.epoch
        await proxy.stop()  # Redis unreachable: the conversation on `ended` ends meanwhile
        await leaving.close()
        await node.publish(kept, {"n": 1})  # does not raise; the local listener resumes
        assert await next_event(staying) == ("", LAGGED_EVENT)
        await proxy.start()

        async def restored() -> bool:
            return node.connected and await numsub(redis_client, kept) == 1

        await wait_until(restored, 10.0)
        assert await numsub(redis_client, ended) == 0
        assert len(await pubsub_client_ids(redis_client, name)) == 1
        assert node.epoch >= epoch + 2  # lost, then back: cached copies were dropped twice
        await staying.close()
    finally:
        if proxy.server is not None:
            await proxy.stop()


# -- shared rate limits --------------------------------------------------------------------


async def test_rate_limit_is_shared_by_all_nodes(redis_client: aioredis.Redis) -> None:
    window = 3600
    if window - time.time() % window < 5:  # never straddle a window boundary
        await asyncio.sleep(window - time.time() % window + 0.1)
    node_a, node_b = limits.RedisRateLimiter(REDIS_URL), limits.RedisRateLimiter(REDIS_URL)
    key = f"test:{uuid.uuid4().hex}"
    try:
        waits = []
        for i in range(5):
            limiter = node_a if i % 2 == 0 else node_b
            waits.append(await limiter.hit(key, 3, window))
        assert waits[:3] == [0, 0, 0]
        assert all(0 < w <= window for w in waits[3:]), waits
        assert await node_b.hit(f"test:{uuid.uuid4().hex}", 3, window) == 0  # other key

        stored = f"{limits.PREFIX}{key}:{int(time.time() // window)}"
        count = await redis_client.get(stored)
        assert count is not None and int(count) == 5
        assert 0 < await redis_client.ttl(stored) <= window + 1  # counters expire
    finally:
        await node_a.close()
        await node_b.close()


async def test_more_commands_in_flight_than_pooled_connections_wait_instead_of_failing(
    make_broker: MakeBroker,
) -> None:
    """Hundreds of sockets checking a limit or publishing at once share a bounded pool."""
    busy = limits.REDIS_MAX_CONNECTIONS * 3
    limiter = limits.RedisRateLimiter(REDIS_URL)
    broker = await make_broker()
    try:
        waits = await asyncio.gather(
            *(limiter.hit(f"test:{uuid.uuid4().hex}", 10, 60) for _ in range(busy))
        )
        await asyncio.gather(*(broker.publish(channel_name(), {"n": i}) for i in range(busy)))
    finally:
        await limiter.close()
    assert waits == [0] * busy
