"""Operators' principals cached per process, so an API request does not reload them.

Why: every authenticated request turned its access token into a principal with two queries
(the session, operator, groups and MFA facts in one; the live grants in another), which cost
more than the rest of a simple read. A principal changes rarely, and a change must still take
effect at once, on every node:

- :func:`principals_changed` runs after the change has committed (every action that changes a
  session, role, status, groups, grants or MFA facts calls it, through
  ``confide.access.operators.notify_principal_changed`` or directly). It bumps the generation
  here, so a load that started before the commit cannot store the old principal after it, and
  publishes an invalidation through the broker (``PRINCIPALS_CHANNEL``), so every node drops
  its copies as soon as Redis delivers it.
- As with ``confide.privacy.settings_cache``: on a node with a Redis broker the cache is used
  only while its watcher is subscribed and the broker is connected; each entry records the
  broker's ``epoch``, which moves when the connection is lost and again when it is back, so
  everything cached before a possible loss of invalidations is ignored.
- An entry is never used after ``TTL_SECONDS``, after its session expires, or after the
  earliest of its grants expires (a support account's entered workspace depends on them).
- Open console sockets re-check with :func:`confide.access.auth.authenticate_session`, which
  never reads this cache: they re-check *because* something changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from confide.access.policy import Principal
from confide.core.clock import utcnow
from confide.realtime.fanout.broker import Broker
from confide.realtime.fanout.invalidation import InvalidationWatcher

if TYPE_CHECKING:
    from confide.runtime import Runtime

TTL_SECONDS = 10.0
MAX_ENTRIES = 50_000
# Node-level: every node drops its cached principals of the operator named (or all).
PRINCIPALS_CHANNEL = "principals-changed"
# (session id, workspace hint) -> principal
_Key = tuple[uuid.UUID, uuid.UUID | None]


class PrincipalCache:
    """Principals of live sessions, keyed by session and workspace hint (see module doc)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        # key -> (valid until, confide clock; broker epoch; principal)
        self._entries: dict[_Key, tuple[datetime, int, Principal]] = {}
        self.generation = 0
        self._watcher = InvalidationWatcher(
            broker, PRINCIPALS_CHANNEL, "confide-principal-cache", self._on_event, self.invalidate
        )
        broker.on_reconnect(self.invalidate)

    @property
    def usable(self) -> bool:
        """Whether invalidations can reach this node now; starts the watcher if not yet."""
        return self._watcher.live

    def get(self, session_id: uuid.UUID, hint: uuid.UUID | None) -> Principal | None:
        """The cached principal of the session, or ``None``."""
        if not self.usable:
            return None
        hit = self._entries.get((session_id, hint))
        if hit is None or hit[1] != self._broker.epoch or hit[0] <= utcnow():
            return None
        return hit[2]

    def snapshot(self) -> tuple[int, int]:
        """Taken before loading: :meth:`store` refuses a load older than an invalidation."""
        return self.generation, self._broker.epoch

    def store(
        self,
        snapshot: tuple[int, int],
        hint: uuid.UUID | None,
        principal: Principal,
        session_expires_at: datetime,
    ) -> None:
        """Keep ``principal`` (loaded after ``snapshot``) until the earliest of the TTL, its
        session's expiry and its grants' expiry, unless something changed meanwhile."""
        generation, epoch = snapshot
        if generation != self.generation or epoch != self._broker.epoch or not self.usable:
            return
        assert principal.session_id is not None
        until = min(
            [utcnow() + timedelta(seconds=TTL_SECONDS), session_expires_at]
            + [grant.expires_at for grant in principal.grants]
        )
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[(principal.session_id, hint)] = (until, epoch, principal)

    def invalidate(self, operator_id: uuid.UUID | None = None) -> None:
        """Drop the operator's cached principals (``None``: everyone's)."""
        self.generation += 1
        if operator_id is None:
            self._entries.clear()
            return
        for key in [k for k, v in self._entries.items() if v[2].operator_id == operator_id]:
            del self._entries[key]

    def _on_event(self, event: dict[str, object]) -> None:
        operator_id = event.get("operator_id")
        self.invalidate(uuid.UUID(operator_id) if isinstance(operator_id, str) else None)

    async def close(self) -> None:
        await self._watcher.close()


async def principals_changed(rt: Runtime, operator_id: uuid.UUID | None) -> None:
    """Call after a change to an operator's principal has committed (``None``: a change that
    may touch any operator's, such as a workspace's MFA rule or a deleted group)."""
    rt.principal_cache.invalidate(operator_id)
    rt.agent_cards.invalidate(operator_id)  # confide.chat.agent_cards listens here too
    event = {"type": "principals_changed", "operator_id": str(operator_id) if operator_id else None}
    await rt.broker.publish(PRINCIPALS_CHANNEL, event)
