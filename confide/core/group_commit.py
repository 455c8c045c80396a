"""Group commit on SQLite: units of work that arrive together share one write transaction.

Why: SQLite has one writer at a time, so every write transaction of a process queues for the
write lock, and each pays for its own ``BEGIN IMMEDIATE`` and ``COMMIT`` (the WAL append and
two more hand-overs to the driver's thread) while the others wait. Under load the queue is
long: a unit that starts while another is writing may as well commit with it.

How: a *batch* is one connection holding one ``BEGIN IMMEDIATE`` transaction (and the
process's write lock). A unit of work that starts while a batch is open joins it; members take
turns on the batch's connection, each inside its own ``SAVEPOINT`` (SQLAlchemy's
``join_transaction_mode="create_savepoint"``). A member whose block raises rolls back to its
savepoint and raises alone: its batch-mates' writes stand (a duplicate client id, a withdrawn
consent or a closed conversation fails that one message, never the others). It raises once
the batch has ended, so what made it fail (a batch-mate's row under a unique key) is committed
by then, as it would be had the two written one after the other. The batch commits
when no unit is waiting to join it, or once ``max_units`` have joined; every member's
``transaction()`` block returns only after that COMMIT, and only then runs its ``on_commit``
work, so no event or acknowledgement leaves before its write is durable. If the COMMIT fails,
every member of the batch raises and none runs its after-commit work. A member whose caller
is cancelled while it waits for the COMMIT still has its after-commit work run once the batch
commits (its writes are part of the batch).

Within a batch a member sees the uncommitted writes of the members before it (one
connection), which is what one writer after another would have seen. Sequence numbers stay
gap-free: a member that rolls back to its savepoint also rolls back its ``last_seq + 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from confide.core.db import UnitOfWork


class _Batch:
    """One write transaction shared by the units of work that joined it."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[AsyncConnection] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.turn = asyncio.Lock()  # one member at a time on the connection
        self.joined = 0  # members admitted
        self.pending = 0  # members admitted that have not finished their turn
        self.closed = False  # committing: nobody joins any more
        self.kept = 0  # members whose block ended without an error


class GroupCommit:
    """Write transactions on one SQLite database, committed in batches of up to
    ``max_units`` units of work (see the module docstring)."""

    def __init__(
        self,
        engine: AsyncEngine,
        unit_class: type[UnitOfWork],
        max_units: int,
        write_lock: asyncio.Lock | None = None,
    ) -> None:
        if max_units < 1:
            raise ValueError("max_units must be at least 1")
        self._engine = engine
        self._unit_class = unit_class
        self.max_units = max_units
        # One open write transaction per process (shared with confide.core.batched_writes).
        self._write_lock = write_lock or asyncio.Lock()
        self._open: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_committed = 0
        self.units_committed = 0

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work in the open batch (or a new one); returns after the batch's COMMIT
        and the unit's after-commit work. Raises what its block raised (its savepoint rolled
        back, batch-mates unaffected) or what the COMMIT raised (the whole batch failed)."""
        batch = self._join()
        failure: BaseException | None = None
        try:
            connection = await asyncio.shield(batch.ready)
            async with batch.turn:
                unit = self._unit_class(
                    bind=connection,
                    expire_on_commit=False,
                    join_transaction_mode="create_savepoint",
                )
                async with unit, unit.begin():  # SAVEPOINT ... RELEASE, or ROLLBACK TO
                    yield unit
                batch.kept += 1
        except BaseException as exc:
            failure = exc
        finally:
            self._leave(batch)
        if failure is not None:
            if not isinstance(failure, asyncio.CancelledError) and batch.ready.done():
                # Raise only once the batch has ended: a unit may have failed on a batch-mate's
                # row (a unique key, a compare-and-set), and its caller then reads that row
                # from another connection, as it would after one writer after another.
                with contextlib.suppress(BaseException):
                    await asyncio.shield(batch.done)
            raise failure
        try:
            await asyncio.shield(batch.done)
        except asyncio.CancelledError:
            # Its writes commit with the batch all the same, so their events must still go out.
            self._spawn(self._after_commit_of(batch, unit))
            raise
        await unit.run_after_commit()

    async def _after_commit_of(self, batch: _Batch, unit: UnitOfWork) -> None:
        """The after-commit work of a unit whose caller was cancelled while it waited."""
        try:
            await batch.done
        except BaseException:
            return  # the COMMIT failed: nothing of the unit happened
        await unit.run_after_commit()

    def _join(self) -> _Batch:
        batch = self._open
        if batch is None or batch.closed or batch.joined >= self.max_units:
            batch = self._open = _Batch()
            self._spawn(self._begin(batch))
        batch.joined += 1
        batch.pending += 1
        return batch

    def _leave(self, batch: _Batch) -> None:
        batch.pending -= 1
        if batch.pending == 0:  # nobody waits to join: commit what the batch holds
            batch.closed = True
            if self._open is batch:
                self._open = None
            self._spawn(self._finish(batch))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _begin(self, batch: _Batch) -> None:
        await self._write_lock.acquire()
        try:
            connection = await self._engine.connect()
            try:
                await connection.execution_options(confide_begin="BEGIN IMMEDIATE")
                await connection.begin()
            except BaseException:
                await connection.close()
                raise
        except BaseException as exc:
            self._write_lock.release()
            batch.closed = True
            if self._open is batch:
                self._open = None
            batch.ready.set_exception(exc)
            batch.ready.exception()  # every member raises it; never "not retrieved"
            return
        batch.ready.set_result(connection)

    async def _finish(self, batch: _Batch) -> None:
        try:
            connection = await batch.ready
        except BaseException:
            batch.done.set_result(None)  # it never began; its members raised already
            return
        try:
            await connection.commit()
        except BaseException as exc:
            batch.done.set_exception(exc)
            batch.done.exception()  # members that still wait raise it
            with contextlib.suppress(Exception):
                # Its transaction may still be open: never hand it back to the pool.
                await connection.invalidate()
        else:
            self.batches_committed += 1
            self.units_committed += batch.kept
            batch.done.set_result(None)
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
            self._write_lock.release()
