"""Redis pub/sub backend: events published on one node reach subscribers on every node.

Each node keeps one pub/sub connection and subscribes a Redis channel only while at least one
local socket listens to it (reference counted in ``Broker``), so 5,000 sockets watching a
workspace cost one Redis subscription, not 5,000. If the connection drops, the reader
reconnects, re-subscribes, and marks every local subscription lagged: events published
meanwhile are lost to Redis, so sockets tell their clients to resume from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from confide.realtime.broker import Broker, Event
from confide.realtime.limits import redis_client

PREFIX = "confide:"
log = logging.getLogger("confide.realtime")


class RedisBroker(Broker):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._redis: aioredis.Redis = redis_client(url)
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._reader: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        self._control_channel = f"{PREFIX}node:{uuid.uuid4().hex}"

    async def start(self) -> None:
        async with self._starting:  # two first sockets at once must not start two readers
            if self._reader is not None:
                return
            # A pub/sub connection needs one subscription before it can be read.
            await self._pubsub.subscribe(self._control_channel)
            self._reader = asyncio.create_task(self._read_forever(), name="confide-redis-broker")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()

    async def publish(self, channel: str, event: Event) -> None:
        await self._redis.publish(PREFIX + channel, json.dumps(event, separators=(",", ":")))

    async def _channel_opened(self, channel: str) -> None:
        await self.start()
        await self._pubsub.subscribe(PREFIX + channel)

    async def _channel_closed(self, channel: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe(PREFIX + channel)

    async def _read_forever(self) -> None:
        backoff_seconds = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff_seconds = 0.1
            except (RedisError, OSError) as exc:
                log.warning("redis pub/sub connection lost (%s); reconnecting", type(exc).__name__)
                # Read again only once re-subscribed: a pub/sub whose subscribe failed has no
                # connection, and reading it raises RuntimeError, which would end this task.
                while True:
                    await asyncio.sleep(backoff_seconds)
                    backoff_seconds = min(backoff_seconds * 2, 5.0)
                    if await self._resubscribe():
                        break
                continue
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

    async def _resubscribe(self) -> bool:
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await self._pubsub.subscribe(self._control_channel, *(PREFIX + c for c in self._local))
        except (RedisError, OSError):
            return False
        for subscription in {s for listeners in self._local.values() for s in listeners}:
            subscription.mark_lagged()
        return True
