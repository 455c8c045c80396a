"""The watcher that keeps a per-process cache honest across nodes.

Why one part: the privacy-settings cache and the principal cache follow the same rule. A cache
may serve from memory only while every invalidation published on any node can reach it: with
the in-process broker always (every change is made, and invalidated, here); with Redis only
once its subscription is up and while the broker is connected. The watcher subscribes lazily
(on the first use), hands each invalidation event to the cache, and tells it to drop
everything when events may have been lost (the subscription lagged). The caches themselves
record the broker's ``epoch`` in their entries, which moves whenever the connection is lost or
regained (``Broker.on_reconnect``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from confide.realtime.fanout.broker import Broker, MemoryBroker, Subscription


class InvalidationWatcher:
    """Subscribes to ``channel`` on first use and calls ``on_event(event)`` for every event
    published there, ``on_lost()`` when events may have been missed. ``name`` names the task."""

    def __init__(
        self,
        broker: Broker,
        channel: str,
        name: str,
        on_event: Callable[[dict[str, Any]], None],
        on_lost: Callable[[], None],
    ) -> None:
        self._broker = broker
        self._channel = channel
        self._name = name
        self._on_event = on_event
        self._on_lost = on_lost
        # One process: every change is made here and invalidated directly.
        self.subscribed = isinstance(broker, MemoryBroker)
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    @property
    def live(self) -> bool:
        """Whether invalidations can reach this node now; starts the watcher if not yet."""
        if self.subscribed and self._broker.connected:
            return True
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(), name=self._name)
        return False

    async def _watch(self) -> None:
        self._subscription = self._broker.subscription()
        await self._broker.start()
        await self._subscription.add(self._channel)
        self.subscribed = True
        while True:
            _channel, event = await self._subscription.get()
            if self._subscription.lagged:
                self._subscription.lagged = False
                self._on_lost()
            self._on_event(event)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
