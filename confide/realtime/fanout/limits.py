"""Rate limits (fixed windows), in process or shared through Redis across nodes.

Keys never contain personal data in clear: callers pass a keyed hash of an IP address.

When Redis is unreachable the shared limiter fails to the mode the operator chose
(``rate_limit_when_redis_down``): ``local`` counts in this process instead (each node then
admits up to the limit on its own, so a cluster of N nodes lets at most N times the limit
through during the outage), ``refuse`` answers ``ServiceUnavailable`` (HTTP 503 with
``Retry-After``). After a failure Redis is not asked again for ``REDIS_RETRY_AFTER_SECONDS``,
so an outage costs each request one failed attempt per second per node, not one per request.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from confide.core.errors import ServiceUnavailable

PREFIX = "confide:rl:"
REDIS_MAX_CONNECTIONS = 100
REDIS_POOL_WAIT_SECONDS = 10.0
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
REDIS_COMMAND_TIMEOUT_SECONDS = 5.0
# A pooled connection idle this long is PINGed before use: a stale one (Redis restarted
# meanwhile) is replaced instead of failing the request that drew it.
REDIS_HEALTH_CHECK_SECONDS = 5
REDIS_RETRY_AFTER_SECONDS = 1.0
REFUSED_RETRY_AFTER_SECONDS = 5  # the Retry-After of a refusal in ``refuse`` mode
FALLBACK_MODES = ("local", "refuse")
log = logging.getLogger("confide.realtime")


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


def redis_connection_options(client_name: str | None = None) -> dict[str, Any]:
    """Timeouts, health checks and retries for every Redis connection Confide opens.

    Retries: two more attempts, 50 ms then 100 ms apart, on connection errors and timeouts
    only, so a connection that went stale (Redis restarted) is replaced within one call, and
    a real outage fails in well under a second instead of blocking the caller.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_COMMAND_TIMEOUT_SECONDS,
        "health_check_interval": REDIS_HEALTH_CHECK_SECONDS,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }
    if client_name:
        options["client_name"] = client_name
    return options


def redis_client(url: str, client_name: str | None = None) -> aioredis.Redis:
    """A client whose pool waits for a free connection instead of failing.

    redis-py's default pool raises ``MaxConnectionsError`` once ``REDIS_MAX_CONNECTIONS``
    commands are in flight: under load (hundreds of sockets checking limits or publishing at
    once) that ended sockets with an error. Waiting briefly is what a busy node should do.
    Connections are health-checked and retried (``redis_connection_options``).
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_POOL_WAIT_SECONDS,
        **redis_connection_options(client_name),
    )
    return aioredis.Redis(connection_pool=pool)


class RedisRateLimiter(RateLimiter):
    """Shared fixed windows in Redis; ``fallback`` (``local``/``refuse``) says what to do
    while Redis is unreachable (see the module docstring).

    Raises ``ServiceUnavailable`` from ``hit`` only in ``refuse`` mode during an outage.
    """

    def __init__(self, url: str, fallback: str = "local") -> None:
        if fallback not in FALLBACK_MODES:
            raise ValueError(f"fallback must be one of {FALLBACK_MODES}, not {fallback!r}")
        self._redis: aioredis.Redis = redis_client(url)
        self._fallback = fallback
        self._local = MemoryRateLimiter()
        self._down_until = 0.0

    async def hit(self, key: str, limit: int, window_seconds: int) -> int:
        if time.monotonic() >= self._down_until:
            try:
                return await self._hit_redis(key, limit, window_seconds)
            except (RedisError, OSError) as exc:
                if self._down_until == 0.0:
                    log.warning(
                        "rate limiter: Redis unreachable (%s); mode %s",
                        type(exc).__name__,
                        self._fallback,
                    )
                self._down_until = time.monotonic() + REDIS_RETRY_AFTER_SECONDS
        if self._fallback == "refuse":
            raise ServiceUnavailable(
                "Rate limits cannot be checked right now; try again in a few seconds.",
                retry_after_seconds=REFUSED_RETRY_AFTER_SECONDS,
            )
        return await self._local.hit(key, limit, window_seconds)

    async def _hit_redis(self, key: str, limit: int, window_seconds: int) -> int:
        now = time.time()
        window = int(now // window_seconds)
        redis_key = f"{PREFIX}{key}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, window_seconds + 1)
            count, _ = await pipe.execute()
        if self._down_until:
            log.warning("rate limiter: Redis reachable again")
            self._down_until = 0.0
        if int(count) > limit:
            return max(1, int((window + 1) * window_seconds - now))
        return 0

    async def close(self) -> None:
        await self._redis.aclose()
        await self._redis.connection_pool.disconnect()  # a pool we made: ours to close


def create_rate_limiter(redis_url: str | None, fallback: str = "local") -> RateLimiter:
    """The shared limiter with Redis, else the in-process one."""
    return RedisRateLimiter(redis_url, fallback) if redis_url else MemoryRateLimiter()
