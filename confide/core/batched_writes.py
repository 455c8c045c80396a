"""Batched writes on SQLite: short write programs run back to back in one trip to the driver.

Why: group commit (``confide.core.group_commit``) lets units of work share one transaction,
but each unit still makes its own trips to aiosqlite's worker thread (its statements and its
savepoint) and runs through an ``AsyncSession``; on the message path those hand-overs between
the event loop and the thread were the largest single cost (``docs/performance.md``). A
*write program* is a plain function of a ``sqlite3.Connection`` whose inputs were computed
before it was queued (a message's sealed text, its search terms): every program queued while
the process's write transaction is busy runs in the next batch: ``BEGIN IMMEDIATE``, each
program in its own ``SAVEPOINT``, ``COMMIT``.

Where a batch runs: on the event loop's own thread, on a connection of its own, as the
group-commit relay of the benchmarks does (``benchmarks/relay.py``). A batch takes about 0.1
ms per program there, with no hand-over at all. On aiosqlite's worker thread instead, each
statement gives the GIL up while SQLite works and must win it back from a busy event loop
(up to Python's 5 ms switch interval each time): a batch of ten messages took hundreds of
milliseconds under the load of ``realistic_day``. That connection's ``busy_timeout`` is 0, so
the loop never waits for another *process*'s write (a worker, the CLI): when ``BEGIN
IMMEDIATE`` finds the database locked, that batch runs on the driver's thread instead, which
waits for the lock as every other writer does.

The contract is group commit's:

- :meth:`BatchedWrites.run` returns only after the batch's COMMIT, then runs the caller's
  after-commit work; nothing a program wrote is visible to anyone before that.
- A program that raises rolls back to its own savepoint, and its caller gets the exception
  (after the COMMIT, so whatever made it fail, such as a batch-mate's row under a unique key,
  is committed by then); its batch-mates' writes stand.
- If the COMMIT (or BEGIN) fails, every member raises it and none runs its after-commit work.
- A caller cancelled while it waits still has its after-commit work run once the batch commits
  (its writes are part of the batch).

Programs must not await or touch the event loop (they may run on another thread): they read
only their inputs and the connection, and are short. They share the process's write lock with
every other writer, so SQLite still sees one write transaction at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("confide.db")

T = TypeVar("T")
R = TypeVar("R")
Program = Callable[[sqlite3.Connection], Any]
# (True, value) or (False, the exception the program raised)
Outcome = tuple[bool, Any]

_SAVEPOINT = "confide_batched"


def run_programs(
    connection: sqlite3.Connection, programs: list[Program], *, begun: bool = False
) -> list[Outcome]:
    """One write transaction (begun already with ``begun``), each program in its own
    savepoint. Raises what BEGIN or COMMIT raised (the transaction rolled back)."""
    outcomes: list[Outcome] = []
    if not begun:
        connection.execute("BEGIN IMMEDIATE")
    try:
        for program in programs:
            connection.execute(f"SAVEPOINT {_SAVEPOINT}")
            try:
                value = program(connection)
            except Exception as exc:
                connection.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                connection.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                outcomes.append((False, exc))
            else:
                connection.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                outcomes.append((True, value))
        connection.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")
        raise
    return outcomes


class _Member:
    __slots__ = ("done", "program")

    def __init__(self, program: Program, done: asyncio.Future[Any]) -> None:
        self.program = program
        self.done = done


class BatchedWrites:
    """Write programs on one SQLite database, run in batches of up to ``max_programs`` (see
    the module docstring). ``write_lock``: the process's write lock, shared with every other
    writer of the database. ``path`` and ``pragmas``: the database file and the PRAGMAs of
    the connection that runs batches on the loop's thread (``busy_timeout=0`` among them);
    without a path every batch goes to the driver's thread."""

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: asyncio.Lock,
        max_programs: int = 256,
        *,
        path: str | None = None,
        pragmas: Sequence[str] = (),
    ) -> None:
        if max_programs < 1:
            raise ValueError("max_programs must be at least 1")
        self._engine = engine
        self._write_lock = write_lock
        self.max_programs = max_programs
        self._queue: list[_Member] = []
        self._flushing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._path = path
        self._pragmas = tuple(pragmas)
        self._own: sqlite3.Connection | None = None
        self.batches_committed = 0
        self.programs_committed = 0
        self.batches_on_driver = 0  # batches that found another process writing

    def close(self) -> None:
        """Close the loop's connection (reopened if a batch comes later)."""
        own, self._own = self._own, None
        if own is not None:
            own.close()

    def _loop_connection(self) -> sqlite3.Connection | None:
        if self._own is None and self._path is not None:
            own = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in self._pragmas:
                own.execute(f"PRAGMA {pragma}")
            self._own = own
        return self._own

    async def run(
        self,
        program: Callable[[sqlite3.Connection], T],
        after_commit: Callable[[T], Awaitable[R]] | None = None,
    ) -> Any:
        """Queue ``program``; once its batch has committed, return what it returned, or with
        ``after_commit`` what ``after_commit(value)`` returns. Raises what the program raised
        (its savepoint rolled back) or what BEGIN/COMMIT raised (nothing of the batch stored)."""
        done: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append(_Member(program, done))
        if not self._flushing:
            self._flushing = True
            self._spawn(self._flush())
        try:
            value = await asyncio.shield(done)
        except asyncio.CancelledError:
            if after_commit is not None:
                # Its writes commit with the batch all the same: their after-commit work too.
                self._spawn(self._after_commit_of(done, after_commit))
            raise
        if after_commit is None:
            return value
        return await after_commit(value)

    async def _after_commit_of(
        self, done: asyncio.Future[T], after_commit: Callable[[T], Awaitable[Any]]
    ) -> None:
        try:
            value = await done
        except BaseException:
            return  # the program or the COMMIT failed: nothing of it happened
        try:
            await after_commit(value)
        except Exception as exc:
            log.error("after-commit work of a cancelled write failed: %s", type(exc).__name__)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            while self._queue:
                async with self._write_lock:
                    # Everything queued while the lock was busy goes in this batch.
                    batch = self._queue[: self.max_programs]
                    del self._queue[: self.max_programs]
                    try:
                        outcomes = await self._run_batch([m.program for m in batch])
                    except BaseException as exc:
                        for member in batch:
                            member.done.set_exception(exc)
                            member.done.exception()  # never "not retrieved"
                        if isinstance(exc, asyncio.CancelledError):
                            raise
                        continue
                self.batches_committed += 1
                for member, (ok, value) in zip(batch, outcomes, strict=True):
                    if ok:
                        self.programs_committed += 1
                        member.done.set_result(value)
                    else:
                        member.done.set_exception(value)
                        member.done.exception()
        finally:
            self._flushing = False
            for member in self._queue:  # only when cancelled (the node shutting down)
                if not member.done.done():
                    member.done.cancel()
            self._queue.clear()

    async def _run_batch(self, programs: list[Program]) -> list[Outcome]:
        own = self._loop_connection()
        if own is not None:
            try:
                own.execute("BEGIN IMMEDIATE")  # busy_timeout 0: fails at once if locked
            except sqlite3.OperationalError:
                pass  # another process is writing: wait for it on the driver's thread
            else:
                return run_programs(own, programs, begun=True)
        self.batches_on_driver += 1
        async with self._engine.connect() as conn:
            raw = await conn.get_raw_connection()
            adapted: Any = raw.dbapi_connection  # the driver's adapted aiosqlite connection
            async with adapted._execute_mutex:
                outcomes: list[Outcome] = await adapted._connection._execute(
                    run_programs, adapted._connection._conn, programs
                )
            return outcomes
