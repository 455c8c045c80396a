"""Redis unreachable (a real refused connection, a port nothing listens on): what each part does.

The rate limiter falls back to the configured mode; publishing never raises and makes local
listeners resume; readiness says which service is down while liveness stays up. The full
two-node fault injection (Redis killed, PostgreSQL stopped mid-traffic) is tests/faults/.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from confide.api.app import create_app
from confide.core.config import Settings
from confide.core.errors import ServiceUnavailable
from confide.realtime.fanout.broker import LAGGED_EVENT
from confide.realtime.fanout.limits import RedisRateLimiter
from confide.realtime.fanout.redis import RedisBroker
from confide.runtime import Runtime


@pytest.fixture
def dead_redis_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # closed again: connections are refused


async def test_local_mode_counts_in_process_while_redis_is_unreachable(
    dead_redis_url: str,
) -> None:
    limiter = RedisRateLimiter(dead_redis_url, fallback="local")
    key = f"test:{uuid.uuid4().hex}"
    try:
        waits = [await limiter.hit(key, 2, 3600) for _ in range(3)]
    finally:
        await limiter.close()
    assert waits[:2] == [0, 0]
    assert waits[2] > 0  # the limit still holds, per node


async def test_refuse_mode_answers_service_unavailable_with_retry_after(
    dead_redis_url: str,
) -> None:
    limiter = RedisRateLimiter(dead_redis_url, fallback="refuse")
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            await limiter.hit(f"test:{uuid.uuid4().hex}", 2, 60)
    finally:
        await limiter.close()
    assert raised.value.status_code == 503
    assert int(raised.value.headers["Retry-After"]) > 0


async def test_publish_never_raises_and_local_listeners_resume(dead_redis_url: str) -> None:
    broker = RedisBroker(dead_redis_url)
    try:
        await asyncio.wait_for(broker.start(), 10)  # gives up waiting, does not fail
        assert broker.connected is False
        subscription = broker.subscription()
        await subscription.add("conv:test")  # remembered for when Redis is back
        await broker.publish("conv:test", {"type": "message", "seq": 1})
        assert await asyncio.wait_for(subscription.get(), 5) == ("", LAGGED_EVENT)
        assert subscription.lagged is True
        assert await broker.ping() is False
        await subscription.close()
    finally:
        await broker.close()


@pytest.fixture
async def app_without_redis(
    settings: Settings, dead_redis_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    rt = Runtime.from_settings(
        settings.model_copy(
            update={"redis_url": dead_redis_url, "rate_limit_when_redis_down": "refuse"}
        )
    )
    await rt.prepare()
    transport = httpx.ASGITransport(app=create_app(runtime=rt))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client
    await rt.close()


async def test_refused_rate_limit_is_a_503_with_retry_after_and_json_body(
    app_without_redis: httpx.AsyncClient,
) -> None:
    response = await app_without_redis.post("/api/v1/widget/acme/visitors")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"]["code"] == "service_unavailable"


async def test_readiness_names_the_service_that_is_down_while_liveness_holds(
    app_without_redis: httpx.AsyncClient,
) -> None:
    live = await app_without_redis.get("/api/v1/health/live")
    assert (live.status_code, live.json()["status"]) == (200, "ok")
    ready = await app_without_redis.get("/api/v1/health/ready")
    assert ready.status_code == 503
    assert int(ready.headers["retry-after"]) > 0
    body = ready.json()
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}
    assert body["error"]["code"] == "service_unavailable"


async def test_ready_without_redis_configured(client: httpx.AsyncClient) -> None:
    ready = await client.get("/api/v1/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not_configured"},
    }
