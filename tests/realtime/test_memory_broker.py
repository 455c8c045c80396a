"""The in-process broker and rate limiter: fan-out, unsubscribe, bounded queues, windows."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from confide.realtime.fanout import broker as broker_module
from confide.realtime.fanout import limits
from confide.realtime.fanout.broker import MemoryBroker, Subscription, open_subscription


async def next_event(subscription: Subscription, timeout: float = 2.0) -> tuple[str, Any]:
    return await asyncio.wait_for(subscription.get(), timeout)


async def nothing_for(subscription: Subscription, seconds: float = 0.1) -> None:
    try:
        item = await asyncio.wait_for(subscription.get(), seconds)
    except TimeoutError:
        return
    raise AssertionError(f"expected no event, got {item!r}")


async def test_publish_fans_out_to_every_subscriber_of_the_channel_only() -> None:
    broker = MemoryBroker()
    first, second, elsewhere = broker.subscription(), broker.subscription(), broker.subscription()
    await first.add("conv:1")
    await second.add("conv:1", "ws:1")
    await elsewhere.add("conv:2")

    await broker.publish("conv:1", {"type": "message", "seq": 1})
    await broker.publish("ws:1", {"type": "presence"})

    assert await next_event(first) == ("conv:1", {"type": "message", "seq": 1})
    assert await next_event(second) == ("conv:1", {"type": "message", "seq": 1})
    assert await next_event(second) == ("ws:1", {"type": "presence"})
    await nothing_for(first)
    await nothing_for(elsewhere)


async def test_adding_a_channel_twice_delivers_once() -> None:
    broker = MemoryBroker()
    subscription = broker.subscription()
    await subscription.add("conv:1")
    await subscription.add("conv:1")
    assert broker.local_subscriber_count == 1
    await broker.publish("conv:1", {"n": 1})
    assert await next_event(subscription) == ("conv:1", {"n": 1})
    await nothing_for(subscription)


async def test_removed_channel_stops_delivering_and_close_detaches_everything() -> None:
    broker = MemoryBroker()
    leaving, staying = broker.subscription(), broker.subscription()
    await leaving.add("conv:1", "conv:2")
    await staying.add("conv:1")
    assert broker.local_subscriber_count == 3

    await leaving.remove("conv:1")
    assert leaving.channels == {"conv:2"}
    assert broker.local_subscriber_count == 2
    await broker.publish("conv:1", {"n": 1})
    await broker.publish("conv:2", {"n": 2})
    assert await next_event(staying) == ("conv:1", {"n": 1})
    assert await next_event(leaving) == ("conv:2", {"n": 2})
    await nothing_for(leaving)

    await leaving.close()
    await staying.close()
    assert broker.local_subscriber_count == 0
    assert leaving.channels == set()
    await broker.publish("conv:1", {"n": 3})
    await broker.publish("conv:2", {"n": 4})
    await nothing_for(leaving)
    await nothing_for(staying)


async def test_open_subscription_closes_on_exit() -> None:
    broker = MemoryBroker()
    async with open_subscription(broker, "conv:1", "ws:1") as subscription:
        assert broker.local_subscriber_count == 2
        await broker.publish("ws:1", {"n": 1})
        received = []
        async for item in subscription:
            received.append(item)
            break
        assert received == [("ws:1", {"n": 1})]
    assert broker.local_subscriber_count == 0


async def test_slow_subscriber_overflows_into_lagged_and_keeps_the_oldest_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "SUBSCRIPTION_QUEUE_SIZE", 3)
    broker = MemoryBroker()
    slow, fast = broker.subscription(), broker.subscription()
    await slow.add("conv:1")
    await fast.add("conv:1")

    fast_received = []
    for seq in range(1, 6):
        await broker.publish("conv:1", {"seq": seq})
        fast_received.append(await next_event(fast))

    assert [event["seq"] for _, event in fast_received] == [1, 2, 3, 4, 5]
    assert fast.lagged is False
    assert slow.lagged is True
    kept = [(await next_event(slow))[1]["seq"] for _ in range(3)]
    assert kept == [1, 2, 3]  # 4 and 5 were dropped: the reader resumes from the database
    await nothing_for(slow)


async def test_mark_lagged_wakes_a_waiting_reader() -> None:
    broker = MemoryBroker()
    subscription = broker.subscription()
    await subscription.add("conv:1")
    waiting = asyncio.create_task(subscription.get())
    await asyncio.sleep(0.01)
    assert not waiting.done()

    subscription.mark_lagged()

    channel, event = await asyncio.wait_for(waiting, 2.0)
    assert subscription.lagged is True
    assert event == broker_module.LAGGED_EVENT
    assert channel == ""


# -- MemoryRateLimiter ---------------------------------------------------------------------


class FakeTime:
    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime(60 * 16_667 + 20.25)  # 20.25 s into a 60 s window
    # Replace the module's reference only, not time.time for the whole process.
    monkeypatch.setattr(limits, "time", SimpleNamespace(time=fake.time))
    return fake


async def test_memory_limiter_allows_the_limit_then_asks_to_wait_until_the_window_ends(
    fake_time: FakeTime,
) -> None:
    limiter = limits.MemoryRateLimiter()
    waits = [await limiter.hit("msg:a", 3, 60) for _ in range(5)]
    assert waits == [0, 0, 0, 39, 39]  # 39.75 s remain in the window
    assert await limiter.hit("msg:b", 3, 60) == 0  # another key has its own count


async def test_memory_limiter_starts_counting_again_in_the_next_window(
    fake_time: FakeTime,
) -> None:
    limiter = limits.MemoryRateLimiter()
    assert [await limiter.hit("k", 1, 60) > 0 for _ in range(2)] == [False, True]
    fake_time.now = (int(fake_time.now // 60) + 1) * 60 + 0.5
    assert await limiter.hit("k", 1, 60) == 0
    assert await limiter.hit("k", 1, 60) > 0
