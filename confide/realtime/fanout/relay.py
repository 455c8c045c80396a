"""The live relay: with transcripts off, the messages of a conversation still in progress, held
briefly outside the database so the agent who opens a waiting chat sees the visitor's question.

Why: "transcripts off" promises that nothing is *recorded* (no row, no backup, no export); the
conversation itself must still work, and an agent who picks up a waiting chat a minute later
has to see what was asked. So each relayed message event is also kept here:

- never in the database or the backups: in this process's memory, or in Redis (one list per
  conversation) when nodes share a Redis;
- for at most ``live_relay_seconds`` after the last message (the Redis key or the memory entry
  expires) and at most ``live_relay_max_messages`` per conversation;
- dropped as soon as the conversation is closed, and read only by the console page after the
  same policy check and audit record as a stored transcript.
"""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

import redis.asyncio as aioredis

from confide.realtime.fanout.limits import redis_client

PREFIX = "confide:relay:"
Event = dict[str, Any]


class LiveRelay(ABC):
    """Recent message events of conversations whose transcripts are not stored."""

    def __init__(self, ttl_seconds: int, max_messages: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_messages = max_messages

    @abstractmethod
    async def remember(self, conversation_id: uuid.UUID, event: Event) -> None:
        """Keep ``event`` (a ``message`` event with its body) for ``ttl_seconds``."""

    @abstractmethod
    async def recent(self, conversation_id: uuid.UUID) -> list[Event]:
        """The events still held, in sequence order (oldest first)."""

    @abstractmethod
    async def forget(self, conversation_id: uuid.UUID) -> None:
        """Drop everything held for the conversation (on close, on erasure)."""

    async def close(self) -> None:
        return None


class MemoryLiveRelay(LiveRelay):
    MAX_CONVERSATIONS = 10_000

    def __init__(self, ttl_seconds: int, max_messages: int) -> None:
        super().__init__(ttl_seconds, max_messages)
        self._held: dict[uuid.UUID, tuple[float, deque[Event]]] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, (until, _) in self._held.items() if until <= now]:
            del self._held[key]

    async def remember(self, conversation_id: uuid.UUID, event: Event) -> None:
        self._expire()
        if conversation_id not in self._held and len(self._held) >= self.MAX_CONVERSATIONS:
            oldest = min(self._held, key=lambda k: self._held[k][0])
            del self._held[oldest]
        _, events = self._held.get(conversation_id, (0.0, deque(maxlen=self.max_messages)))
        events.append(event)
        self._held[conversation_id] = (time.monotonic() + self.ttl_seconds, events)

    async def recent(self, conversation_id: uuid.UUID) -> list[Event]:
        self._expire()
        _, events = self._held.get(conversation_id, (0.0, deque()))
        return sorted(events, key=lambda e: int(e.get("seq") or 0))

    async def forget(self, conversation_id: uuid.UUID) -> None:
        self._held.pop(conversation_id, None)


class RedisLiveRelay(LiveRelay):
    def __init__(self, url: str, ttl_seconds: int, max_messages: int) -> None:
        super().__init__(ttl_seconds, max_messages)
        self._redis: aioredis.Redis = redis_client(url)

    async def remember(self, conversation_id: uuid.UUID, event: Event) -> None:
        key = f"{PREFIX}{conversation_id}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, json.dumps(event))
            pipe.ltrim(key, -self.max_messages, -1)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()

    async def recent(self, conversation_id: uuid.UUID) -> list[Event]:
        raw = await self._redis.lrange(f"{PREFIX}{conversation_id}", 0, -1)
        events = [json.loads(item) for item in raw]
        return sorted(events, key=lambda e: int(e.get("seq") or 0))

    async def forget(self, conversation_id: uuid.UUID) -> None:
        await self._redis.delete(f"{PREFIX}{conversation_id}")

    async def close(self) -> None:
        await self._redis.aclose()


def create_live_relay(redis_url: str | None, ttl_seconds: int, max_messages: int) -> LiveRelay:
    if redis_url:
        return RedisLiveRelay(redis_url, ttl_seconds, max_messages)
    return MemoryLiveRelay(ttl_seconds, max_messages)
