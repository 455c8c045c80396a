"""SQLite through aiosqlite in one thread round trip per statement.

Why: aiosqlite runs every call on its worker thread, and SQLAlchemy's adapter makes one call
each to open a cursor, execute, fetch the rows and close the cursor: three or four hand-overs
between the event loop and the thread per statement. Under load each hand-over waits for the
GIL and for the loop's next turn, and on SQLite they all happen inside the write lock, so they
set the pace of every write (the message path measured 19 hand-overs per message, see
``docs/performance.md``). This cursor does the four steps in one function on the worker
thread. It keeps the adapter's mutex and error translation, so behaviour is unchanged; it is
coupled to SQLAlchemy's asyncio adapter (``sqlalchemy.connectors.asyncio``), which the tests
exercise on every query.

Savepoint statements (``SAVEPOINT``, ``RELEASE``) do not make a trip of their own: they ride
along with the connection's next statement, in order, on the same trip. Group commit gives
every unit of work a savepoint (``confide.core.group_commit``), and two extra trips per unit
inside the write lock would cost more than the COMMIT it saves. A ``COMMIT`` or ``ROLLBACK``
drops what is still waiting: both end every savepoint anyway.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, list[Any], int, int | None]


# Statements that can wait for the next trip: they return nothing and, on a healthy
# connection, cannot fail.
_RIDES_ALONG = ("SAVEPOINT ", "RELEASE SAVEPOINT ")


def _run(
    connection: sqlite3.Connection,
    before: list[str],
    operation: str,
    parameters: Any,
    many: bool,
) -> Outcome:
    """On the worker thread: the waiting savepoint statements, then execute, fetch
    everything, close."""
    for statement in before:
        connection.execute(statement)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor: each statement opens and closes its own on the worker thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return None  # nothing is left open

    def close(self) -> None:
        self._rows.clear()

    async def _one_trip(self, operation: Any, parameters: Any, many: bool) -> None:
        waiting: list[str] = self._adapt_connection._waiting  # type: ignore[attr-defined]
        if not many and not parameters and operation.startswith(_RIDES_ALONG):
            waiting.append(operation)
            self._description, self._rowcount, self._lastrowid = None, -1, None
            self._rows = collections.deque()
            return
        async with self._adapt_connection._execute_mutex:
            before = waiting[:]
            waiting.clear()
            outcome: Outcome = await self._connection._execute(
                _run, self._connection._conn, before, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._one_trip(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._one_trip(operation, seq_of_parameters, True)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_waiting",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._waiting: list[str] = []  # savepoint statements for the next trip

    def commit(self) -> None:
        self._waiting.clear()  # COMMIT releases every savepoint
        super().commit()

    def rollback(self) -> None:
        self._waiting.clear()  # ROLLBACK ends every savepoint
        super().rollback()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does
        return OneTripConnection(self, await_(connection))
