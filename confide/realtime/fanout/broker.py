"""Real-time fan-out behind one small interface, with an in-process and a Redis backend.

A *channel* is a string (``conv:<id>``, ``ws:<workspace id>``, ``op:<operator id>``); an event is
a JSON-serialisable dict. ``publish`` reaches every subscriber of the channel on every node
(Redis) or in this process (memory). A ``Subscription`` is one socket's inbox: it can add and
drop channels while open, and is read as an async iterator of ``(channel, event)``.

Delivery through the broker is best effort by design: the database is the source of truth.
Every message event carries its per-conversation sequence number, and a client that missed
anything (slow consumer, dropped socket, another node) resumes from the database with
``since=<seq>``. Slow subscribers therefore get a bounded queue; on overflow the subscription
is marked ``lagged`` and the socket tells its client to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from typing import Any

Event = dict[str, Any]
SUBSCRIPTION_QUEUE_SIZE = 1000
# Queued (on channel "") to wake a reader whose subscription was marked lagged.
LAGGED_EVENT: Event = {"type": "lagged"}


class Subscription:
    """One socket's inbox, bounded at ``SUBSCRIPTION_QUEUE_SIZE`` events.

    A deque made on the first event and one waiter future while a reader waits, instead of an
    ``asyncio.Queue`` (four deques and an event per socket, made even while empty): most
    sockets sit idle, and every byte of an idle socket counts thousands of times
    (docs/performance.md, "Idle socket memory"). One reader at a time (the socket's loop).
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._items: deque[tuple[str, Event]] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.channels: set[str] = set()
        self.lagged = False
        self._closed = False

    def _put(self, item: tuple[str, Event]) -> bool:
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= SUBSCRIPTION_QUEUE_SIZE:
            return False
        items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def deliver(self, channel: str, event: Event) -> None:
        if not self._put((channel, event)):
            self.lagged = True

    def mark_lagged(self) -> None:
        """Events may have been lost: flag it and wake the reader so it resumes now, not at
        its next event (a full queue already has events waiting to wake it)."""
        self.lagged = True
        self._put(("", LAGGED_EVENT))

    async def add(self, *channels: str) -> None:
        new = [c for c in channels if c not in self.channels]
        self.channels.update(new)
        await self._broker._attach(self, new)

    async def remove(self, *channels: str) -> None:
        gone = [c for c in channels if c in self.channels]
        self.channels.difference_update(gone)
        await self._broker._detach(self, gone)

    async def get(self) -> tuple[str, Event]:
        """The next event, waiting for one (events in the order delivered)."""
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def waiter(self) -> asyncio.Future[None]:
        """A future done once an event is queued (at once if one is): the socket's loop waits
        on it beside its receive, and takes the events with :meth:`get_nowait`."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._items:
            waiter.set_result(None)
        else:
            self._waiter = waiter
        return waiter

    def wake(self, _source: object = None) -> None:
        """Complete the waiter now, with or without an event: the socket's other reasons to
        wake (a frame received, its revalidation timer) share the one future. Takes and
        ignores one argument, so it can be a done callback or a timer's."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def queued(self) -> bool:
        """Whether an event is waiting for :meth:`get_nowait`."""
        return bool(self._items)

    def get_nowait(self) -> tuple[str, Event] | None:
        """The next queued event, or ``None`` when nothing is waiting."""
        return self._items.popleft() if self._items else None

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._broker._detach(self, list(self.channels))
            self.channels.clear()

    def __aiter__(self) -> AsyncIterator[tuple[str, Event]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, Event]]:
        while True:
            yield await self.get()


class Broker(ABC):
    """Local bookkeeping of who listens to what; subclasses move events between nodes.

    ``publish`` never raises for an outage of the transport: it runs after a commit, and a
    stored message must not turn into an error (the subscribers that may have missed it are
    marked lagged and resume from the database). ``epoch`` changes whenever events may have
    been lost node-wide (connection lost or restored): caches fed by broker invalidations
    compare it to know their copies are stale, and ``on_reconnect`` callbacks run first thing
    after a reconnect, before any event is dispatched.
    """

    def __init__(self) -> None:
        self._local: dict[str, set[Subscription]] = defaultdict(set)
        self._reconnect_callbacks: list[Callable[[], None]] = []
        self.epoch = 0

    @abstractmethod
    async def publish(self, channel: str, event: Event) -> None: ...

    @property
    def connected(self) -> bool:
        """True while invalidations published anywhere reach this node."""
        return True

    async def ping(self) -> bool:
        """True when the transport answers (readiness checks); never raises."""
        return True

    def on_reconnect(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every reconnect (drop cached copies there)."""
        self._reconnect_callbacks.append(callback)

    def _events_may_be_lost(self) -> None:
        self.epoch += 1
        for callback in self._reconnect_callbacks:
            callback()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def subscription(self) -> Subscription:
        return Subscription(self)

    def _dispatch(self, channel: str, event: Event) -> None:
        for subscription in list(self._local.get(channel, ())):
            subscription.deliver(channel, event)

    async def _attach(self, subscription: Subscription, channels: list[str]) -> None:
        for channel in channels:
            first = not self._local[channel]
            self._local[channel].add(subscription)
            if first:
                await self._channel_opened(channel)

    async def _detach(self, subscription: Subscription, channels: list[str]) -> None:
        for channel in channels:
            listeners = self._local.get(channel)
            if not listeners:
                continue
            listeners.discard(subscription)
            if not listeners:
                del self._local[channel]
                await self._channel_closed(channel)

    async def _channel_opened(self, channel: str) -> None:
        return None

    async def _channel_closed(self, channel: str) -> None:
        return None

    @property
    def local_subscriber_count(self) -> int:
        return sum(len(s) for s in self._local.values())


class MemoryBroker(Broker):
    """One process: publishing is a direct hand-over to local subscribers."""

    async def publish(self, channel: str, event: Event) -> None:
        self._dispatch(channel, event)


@contextlib.asynccontextmanager
async def open_subscription(broker: Broker, *channels: str) -> AsyncIterator[Subscription]:
    subscription = broker.subscription()
    try:
        await subscription.add(*channels)
        yield subscription
    finally:
        await subscription.close()
