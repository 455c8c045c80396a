"""Rate limits (fixed windows), in process or shared through Redis across nodes.

Keys never contain personal data in clear: callers pass a keyed hash of an IP address.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import redis.asyncio as aioredis

PREFIX = "confide:rl:"
REDIS_MAX_CONNECTIONS = 100
REDIS_POOL_WAIT_SECONDS = 10.0


class RateLimiter(ABC):
    @abstractmethod
    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        """Count one event; return how many seconds to wait if over the limit, else 0."""

    async def close(self) -> None:
        return None


class MemoryRateLimiter(RateLimiter):
    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        now = time.time()
        window = int(now // window_seconds)
        start, count = self._counts.get(key, (window, 0))
        if start != window:
            start, count = window, 0
        count += 1
        if len(self._counts) >= self.MAX_KEYS:
            self._counts.clear()  # bounded memory; a reset only lets a few extra through
        self._counts[key] = (start, count)
        if count > limit:
            return max(1, int((window + 1) * window_seconds - now))
        return 0


def redis_client(url: str) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of failing.

    redis-py's default pool raises ``MaxConnectionsError`` once ``REDIS_MAX_CONNECTIONS``
    commands are in flight: under load (hundreds of sockets checking limits or publishing at
    once) that ended sockets with an error. Waiting briefly is what a busy node should do.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=REDIS_MAX_CONNECTIONS, timeout=REDIS_POOL_WAIT_SECONDS
    )
    return aioredis.Redis(connection_pool=pool)


class RedisRateLimiter(RateLimiter):
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = redis_client(url)

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        now = time.time()
        window = int(now // window_seconds)
        redis_key = f"{PREFIX}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds + 1)
            count, _ = await pipe.execute()
        if int(count) > limit:
            return max(1, int((window + 1) * window_seconds - now))
        return 0

    async def close(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
