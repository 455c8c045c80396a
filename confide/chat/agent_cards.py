"""Agents' public cards cached per process, for the message path.

Why: every agent reply's event carries what the visitor may know of its author (id, alias,
avatar, job title), and reading it took two queries (the operator row, then the vault's
fields, decrypted) inside the reply's transaction, on SQLite inside the write lock. A card
changes rarely, and a change must still show at once, on every node:

- The cache listens on the principals' invalidation channel
  (``confide.access.principal_cache.PRINCIPALS_CHANNEL``): every change to an operator that
  matters here (profile edited, removed, erased) calls
  :func:`~confide.access.principal_cache.principals_changed` after its commit, which drops the
  operator's card here and, through the broker, on every other node.
- As with the other per-process caches: on a node with a Redis broker the cache is used only
  while its watcher is subscribed and the broker is connected; each entry records the broker's
  ``epoch``, which moves when the connection is lost and when it is back; a load that started
  before an invalidation is not stored after it (the generation); ``TTL_SECONDS`` bounds the
  rest.
- A card is a small dict of strings, copied on the way out: callers may change theirs.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confide.access.principal_cache import PRINCIPALS_CHANNEL
from confide.realtime.fanout.broker import Broker
from confide.realtime.fanout.invalidation import InvalidationWatcher

TTL_SECONDS = 10.0
MAX_ENTRIES = 10_000
Card = dict[str, Any]


class AgentCardCache:
    """Operator id -> public card (or ``None``: no such operator), see the module docstring."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        # operator -> (expires at, monotonic seconds; broker epoch; card)
        self._entries: dict[uuid.UUID, tuple[float, int, Card | None]] = {}
        self.generation = 0
        self._watcher = InvalidationWatcher(
            broker, PRINCIPALS_CHANNEL, "confide-agent-card-cache", self._on_event, self.invalidate
        )
        broker.on_reconnect(self.invalidate)

    def get(self, operator_id: uuid.UUID) -> tuple[bool, Card | None]:
        """``(True, card)`` from memory, or ``(False, None)``: load it and :meth:`store` it."""
        if not self._watcher.live:
            return False, None
        hit = self._entries.get(operator_id)
        if hit is None or hit[0] <= time.monotonic() or hit[1] != self._broker.epoch:
            return False, None
        return True, dict(hit[2]) if hit[2] is not None else None

    def snapshot(self) -> tuple[int, int]:
        """Taken before loading: :meth:`store` refuses a load older than an invalidation."""
        return self.generation, self._broker.epoch

    def store(self, snapshot: tuple[int, int], operator_id: uuid.UUID, card: Card | None) -> None:
        """Keep ``card`` (loaded after ``snapshot``) for ``TTL_SECONDS``, unless an
        invalidation or a reconnect came meanwhile."""
        generation, epoch = snapshot
        if generation != self.generation or epoch != self._broker.epoch:
            return
        if not (self._watcher.live and self._broker.connected):
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        kept = dict(card) if card is not None else None
        self._entries[operator_id] = (time.monotonic() + TTL_SECONDS, epoch, kept)

    def invalidate(self, operator_id: uuid.UUID | None = None) -> None:
        """Drop the operator's card (``None``: every card)."""
        self.generation += 1
        if operator_id is None:
            self._entries.clear()
        else:
            self._entries.pop(operator_id, None)

    def _on_event(self, event: dict[str, object]) -> None:
        operator_id = event.get("operator_id")
        self.invalidate(uuid.UUID(operator_id) if isinstance(operator_id, str) else None)

    async def close(self) -> None:
        await self._watcher.close()
