"""Redis pub/sub backend: events published on one node reach subscribers on every node.

Each node keeps one pub/sub connection and subscribes a Redis channel only while at least one
local socket listens to it (reference counted in ``Broker``), so 5,000 sockets watching a
workspace cost one Redis subscription, not 5,000.

Outages (docs/operations.md, "Outages"):

- The pub/sub connection comes from a pool of exactly one connection, and only the reader
  task creates or replaces it: there is never a second, orphaned pub/sub connection. When it
  drops, the reader builds a fresh one (backoff 0.1 s doubling to 5 s) and subscribes exactly
  the channels that have local listeners now, so channels of conversations that ended during
  the outage are not restored. redis-py's own reconnect (which re-subscribes whatever the old
  connection had) is turned off for this connection.
- Cache-invalidation channels (``INVALIDATION_CHANNELS``) are subscribed first; then every
  cached copy fed by them is dropped (``Broker.on_reconnect``), then the other channels are
  subscribed and every local subscription is marked lagged, so sockets resume from the
  database what Redis lost meanwhile.
- ``publish`` runs after a commit and never raises: the command connection is health-checked
  and retried (``limits.redis_connection_options``); if Redis stays unreachable, local
  listeners of the channel are marked lagged (they read the database), and invalidations are
  kept (bounded) and published again once the connection is back.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import uuid

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from confide.realtime.fanout.broker import Broker, Event
from confide.realtime.fanout.channels import KEYS_CHANNEL, PRIVACY_SETTINGS_CHANNEL
from confide.realtime.fanout.limits import (
    REDIS_CONNECT_TIMEOUT_SECONDS,
    redis_client,
    redis_connection_options,
)

PREFIX = "confide:"
INVALIDATION_CHANNELS = (PRIVACY_SETTINGS_CHANNEL, KEYS_CHANNEL)
RECONNECT_BACKOFF_SECONDS = (0.1, 5.0)  # first wait, longest wait
PENDING_INVALIDATIONS_MAX = 1000
READ_TIMEOUT_SECONDS = 1.0
log = logging.getLogger("confide.realtime")


class RedisBroker(Broker):
    """Fan-out through Redis pub/sub; see the module docstring for how outages are handled.

    ``node_id`` names this node's connections in Redis (``CLIENT LIST``): commands come from
    ``confide-node-<node_id>``, the pub/sub connection is ``confide-pubsub-<node_id>``.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        self.node_id = uuid.uuid4().hex[:12]
        self._redis: aioredis.Redis = redis_client(url, client_name=f"confide-node-{self.node_id}")
        options = redis_connection_options(f"confide-pubsub-{self.node_id}")
        options["retry"] = Retry(NoBackoff(), retries=0)  # reconnecting is the reader's job
        self._subscriber_pool = aioredis.ConnectionPool.from_url(url, max_connections=1, **options)
        self._subscriber = aioredis.Redis(connection_pool=self._subscriber_pool)
        self._pubsub: PubSub | None = None  # set only while connected
        self._lock = asyncio.Lock()  # one SUBSCRIBE/UNSUBSCRIBE at a time, in order
        self._reader: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._control_channel = f"{PREFIX}node:{self.node_id}"
        self._publish_failing = False
        self._pending: collections.deque[tuple[str, str]] = collections.deque(
            maxlen=PENDING_INVALIDATIONS_MAX
        )

    @property
    def connected(self) -> bool:
        return self._pubsub is not None

    async def start(self) -> None:
        """Start the reader; wait (briefly) for its first connection, never fail."""
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="confide-redis-broker")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), REDIS_CONNECT_TIMEOUT_SECONDS * 2)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._drop_connection()
        await self._subscriber.aclose()
        await self._subscriber_pool.disconnect()
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()  # a pool we made: ours to close

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def publish(self, channel: str, event: Event) -> None:
        data = json.dumps(event, separators=(",", ":"))
        try:
            await self._redis.publish(PREFIX + channel, data)
            self._publish_failing = False
        except (RedisError, OSError) as exc:
            if not self._publish_failing:  # once per outage, not once per event
                log.warning("redis publish failed (%s); listeners resume", type(exc).__name__)
                self._publish_failing = True
            if channel in INVALIDATION_CHANNELS:
                self._pending.append((channel, data))
            for subscription in list(self._local.get(channel, ())):
                subscription.mark_lagged()

    async def _channel_opened(self, channel: str) -> None:
        await self.start()
        await self._reconcile(channel)

    async def _channel_closed(self, channel: str) -> None:
        await self._reconcile(channel)

    async def _reconcile(self, channel: str) -> None:
        """Make Redis match ``_local`` for one channel; while disconnected, do nothing:
        the reader subscribes exactly ``_local`` when it reconnects."""
        async with self._lock:
            pubsub = self._pubsub
            if pubsub is None:
                return
            try:
                if channel in self._local:
                    await pubsub.subscribe(PREFIX + channel)
                else:
                    await pubsub.unsubscribe(PREFIX + channel)
            except (RedisError, OSError) as exc:
                # The reader sees the same dead connection and reconnects; the channel is in
                # (or out of) _local, which is what the new connection will subscribe.
                log.warning("redis (un)subscribe failed (%s)", type(exc).__name__)

    async def _read_forever(self) -> None:
        wait_seconds = RECONNECT_BACKOFF_SECONDS[0]
        while True:
            try:
                pubsub = await self._connect()
                wait_seconds = RECONNECT_BACKOFF_SECONDS[0]
                await self._read(pubsub)
            except (RedisError, OSError, RuntimeError) as exc:
                # RuntimeError: redis-py reading a pub/sub whose connection was reset.
                log.warning("redis pub/sub connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                self._first_attempt.set()
            await self._drop_connection()
            await asyncio.sleep(wait_seconds)
            wait_seconds = min(wait_seconds * 2, RECONNECT_BACKOFF_SECONDS[1])

    async def _connect(self) -> PubSub:
        pubsub = self._subscriber.pubsub(ignore_subscribe_messages=True)
        try:
            async with self._lock:
                invalidations = [PREFIX + c for c in INVALIDATION_CHANNELS if c in self._local]
                await pubsub.subscribe(self._control_channel, *invalidations)
                self._pubsub = pubsub
                # From here on invalidations arrive; what was cached before may be stale.
                self._events_may_be_lost()
                others = [PREFIX + c for c in self._local if c not in INVALIDATION_CHANNELS]
                for start in range(0, len(others), 500):
                    await pubsub.subscribe(*others[start : start + 500])
        except BaseException:
            self._pubsub = None
            with contextlib.suppress(RedisError, OSError, RuntimeError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        for subscription in {s for listeners in self._local.values() for s in listeners}:
            subscription.mark_lagged()
        self._first_attempt.set()
        return pubsub

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=READ_TIMEOUT_SECONDS)
            if self._pending:
                await self._publish_pending()
            if message is None or message.get("type") != "message":
                continue
            raw_channel = message["channel"]
            channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
            if not channel.startswith(PREFIX) or channel == self._control_channel:
                continue
            try:
                event = json.loads(message["data"])
            except (ValueError, TypeError):
                continue
            self._dispatch(channel[len(PREFIX) :], event)

    async def _publish_pending(self) -> None:
        while self._pending:
            channel, data = self._pending[0]
            try:
                await self._redis.publish(PREFIX + channel, data)
            except (RedisError, OSError):
                return  # still unreachable: the next read tries again
            self._pending.popleft()

    async def _drop_connection(self) -> None:
        async with self._lock:
            pubsub, self._pubsub = self._pubsub, None
            if pubsub is not None:
                self._events_may_be_lost()  # invalidations no longer arrive: stop trusting caches
                with contextlib.suppress(RedisError, OSError, RuntimeError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
