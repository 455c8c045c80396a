"""Database turns for sockets: how many of a node's sockets read the database at once.

Why: a burst of sockets that all subscribe at once (every widget after a node restarts, or the
``connections`` benchmark's 5,000) used to open 5,000 sessions together, each waiting for one
of the pool's connections with its ORM session, its statement and the greenlet SQLAlchemy runs
it on. When the burst was over that memory was free, but spread through Python's memory pools
between the long-lived objects the sockets made meanwhile, so the process kept it: 43 KiB of
resident memory per idle widget socket, against 29 KiB when the same subscribes wait here
first, holding a coroutine frame and a future each (docs/performance.md, "Idle socket
memory"). The database serves no more at once anyway (its pool has 15 connections on SQLite,
30 by default on PostgreSQL; a group commit takes up to 64 units), so nothing comes later for
it: 5,000 subscribes took 36-40 s with 32 or 64 turns and 44-45 s without, on the same busy
machine (54 s with 16 turns; memory was the same for all).

A turn covers the database work (an operator's backlog read records its audit entry) and the
broker subscription, never a send to a client: a client that stops reading blocks its own
sends (flow control), and must not hold up every other socket's subscribe. So every turn ends
within the database's and Redis' own timeouts (the pool's checkout, SQLite's busy wait), and
the line always moves; a socket waits in it without a deadline of its own. (A deadline
would fail the tail of a long burst that is being served in order: the 5,000 subscribes take
30 s or more here, and none is an outage.)
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType

from confide.core.db import Database

SOCKET_READS_AT_ONCE = 32


class DatabaseTurns:
    """At most ``at_once`` holders at a time, in arrival order: ``async with turns: ...``."""

    def __init__(self, at_once: int = SOCKET_READS_AT_ONCE) -> None:
        self._gate = asyncio.Semaphore(at_once)
        self.waiting = 0  # sockets in line for a turn now

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._gate.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._gate.release()


_TURNS: weakref.WeakKeyDictionary[Database, DatabaseTurns] = weakref.WeakKeyDictionary()


def of(db: Database) -> DatabaseTurns:
    """The sockets' turns at ``db`` (one set per database, so per runtime and event loop)."""
    turns = _TURNS.get(db)
    if turns is None:
        turns = _TURNS[db] = DatabaseTurns()
    return turns
