"""Key destruction that every node hears of at once.

Why: each process caches unwrapped data keys (``confide.crypto.keyring``) so a busy
conversation does not unwrap its key per message. After an erasure, no node may decrypt the
person's data again, not even from its cache. So destruction goes through
:func:`destroy_keys` (scheduled with ``UnitOfWork.on_commit`` by the erasure): the key store
tombstones and deletes the keys in one purge, this process forgets them, and an invalidation
travels through the broker (``KEYS_CHANNEL``) to every other node, whose
:class:`KeyCacheWatcher` forgets them as soon as Redis delivers it.

Until a node's watcher is subscribed, and while its broker has lost Redis (every cached key is
dropped when the connection drops and again when it returns, ``Broker.on_reconnect``), that
node caches no data key at all, so there is
no window in which a missed invalidation leaves a key usable. With the in-process broker there
are no other nodes to tell; a deployment that runs more than one process uses Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from confide.crypto.keyring import Keyring
from confide.realtime.fanout.broker import Broker, MemoryBroker, Subscription
from confide.realtime.fanout.channels import KEYS_CHANNEL

if TYPE_CHECKING:
    from confide.core.db import UnitOfWork
    from confide.runtime import Runtime

log = logging.getLogger("confide.privacy.keys")
SUBSCRIBE_WAIT_SECONDS = 5.0
KEYS_PER_PURGE = 5_000


async def destroy_keys(rt: Runtime, key_ids: Iterable[uuid.UUID]) -> int:
    """Destroy data keys in one batch (tombstoned: never created again), forget them here and
    tell every node to forget them. Returns how many keys existed. Runs after commit."""
    ids = [str(key_id) for key_id in key_ids]
    count = await rt.keyring.destroy_many(ids)
    await rt.broker.publish(KEYS_CHANNEL, {"type": "keys_destroyed", "key_ids": ids})
    return count


class KeyPurge:
    """The data keys of several units of work (a run's batches), destroyed together by
    :func:`destroy_keys` once ``keys_per_purge`` have gathered, and the rest by :meth:`flush`.

    Why: every purge costs a key-store transaction, a ``secure_delete`` checkpoint and a scan
    of the store's whole file for traces (``confide.crypto.traces``) however few its keys, so
    a run of many batches (retention, bulk delete) pays that per few thousand keys instead of
    per batch. Keys join only once their unit has committed (:meth:`add_on_commit`): a batch
    rolled back destroys nothing. They were tombstoned and journaled before that commit
    (``confide.privacy.journal.record_erasure``), so a process that dies before the purge
    leaves them to the ``retry_key_destruction`` job, as a failed after-commit destruction
    does. Call :meth:`flush` when the run ends, normally or by an error."""

    def __init__(self, rt: Runtime, keys_per_purge: int = KEYS_PER_PURGE) -> None:
        self._rt = rt
        self._keys_per_purge = keys_per_purge
        self._pending: list[uuid.UUID] = []

    def add_on_commit(self, tx: UnitOfWork, key_ids: list[uuid.UUID]) -> None:
        """Destroy ``key_ids`` with this purge once ``tx`` commits (not at all if it does not)."""
        tx.on_commit(self._add, list(key_ids))

    async def _add(self, key_ids: list[uuid.UUID]) -> None:
        self._pending.extend(key_ids)
        if len(self._pending) >= self._keys_per_purge:
            await self.flush()

    async def flush(self) -> int:
        """Destroy the keys gathered so far. Returns how many existed; a failure is logged by
        its type (never its text) and left to the retry job, like any after-commit work."""
        keys, self._pending = self._pending, []
        if not keys:
            return 0
        try:
            return await destroy_keys(self._rt, keys)
        except Exception as exc:
            log.error("key purge of %d keys failed: %s", len(keys), type(exc).__name__)
            return 0


class KeyCacheWatcher:
    """Drops this node's cached copies of keys destroyed on any node (see module doc)."""

    def __init__(self, broker: Broker, keyring: Keyring) -> None:
        self._broker = broker
        self._keyring = keyring
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._subscribed = asyncio.Event()
        # Another node may destroy keys: cache none until subscribed to its notices.
        keyring.dek_cache_enabled = isinstance(broker, MemoryBroker)
        # Whenever notices may have been lost (the broker lost or regained Redis), drop every
        # cached key and cache only while notices can arrive.
        broker.on_reconnect(self._notices_may_be_lost)

    async def start(self) -> None:
        """Subscribe (idempotent), waiting up to ``SUBSCRIBE_WAIT_SECONDS`` for the broker;
        if it is not reachable yet, start anyway with data-key caching off until the watcher
        subscribes. With the in-process broker, destruction here forgets directly and nothing
        needs watching."""
        if isinstance(self._broker, MemoryBroker) or self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="confide-key-cache")
        try:
            await asyncio.wait_for(asyncio.shield(self._subscribed.wait()), SUBSCRIBE_WAIT_SECONDS)
        except TimeoutError:
            # Serve anyway: no data key is cached until the subscription is up.
            log.warning("key-cache watcher not subscribed yet; data keys are not cached")

    async def _watch(self) -> None:
        self._subscription = self._broker.subscription()
        await self._broker.start()
        await self._subscription.add(KEYS_CHANNEL)
        self._keyring.forget()
        self._keyring.dek_cache_enabled = self._broker.connected
        self._subscribed.set()
        while True:
            _channel, event = await self._subscription.get()
            if self._subscription.lagged:
                self._subscription.lagged = False
                self._keyring.forget()
            key_ids = event.get("key_ids")
            if isinstance(key_ids, list):
                self._keyring.forget_many(str(key_id) for key_id in key_ids)

    def _notices_may_be_lost(self) -> None:
        self._keyring.forget()
        self._keyring.dek_cache_enabled = self._subscription is not None and self._broker.connected

    async def close(self) -> None:
        self._keyring.dek_cache_enabled = isinstance(self._broker, MemoryBroker)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
