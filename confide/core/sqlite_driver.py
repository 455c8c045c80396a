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

Writes whose outcome nobody reads (an INSERT without RETURNING) may ride along too, when their
statement says so: :data:`RIDES_ALONG` as its prefix (``insert(t).prefix_with(RIDES_ALONG)``;
a comment, so PostgreSQL runs it as usual). The message path stores a message, its text and
its search terms in one trip this way (``confide.chat.messages``). Such a write runs, in
order, before the connection's next statement, and an error it raises (a unique key) is raised
by that statement: the caller must run one more statement in the same unit of work (the
message path's last INSERT does not ride along). As a safety net a ``RELEASE SAVEPOINT`` does
not wait while writes do (the unit's own savepoint raises their error), ``COMMIT`` runs them
first, and a ``ROLLBACK`` (to a savepoint or whole) drops or ignores them, as it would undo
them anyway.

"""

from __future__ import annotations

import collections
import contextlib
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
# A statement waiting for the next trip: (SQL, parameters or None, executemany).
Waiting = tuple[str, Any, bool]

RIDES_ALONG = "/* rides along */"
# Statements that can wait for the next trip: savepoints (they return nothing and, on a
# healthy connection, cannot fail) and writes marked with RIDES_ALONG.
_SAVEPOINTS = ("SAVEPOINT ", "RELEASE SAVEPOINT ")
_MARKED = f"INSERT {RIDES_ALONG}"


def _run_waiting(connection: sqlite3.Connection, before: list[Waiting], undone: bool) -> None:
    for statement, parameters, many in before:
        if undone and parameters is not None:
            # A write the coming ROLLBACK undoes: its error would not matter.
            with contextlib.suppress(sqlite3.Error):
                _execute(connection, statement, parameters, many)
            continue
        _execute(connection, statement, parameters, many)


def _execute(connection: sqlite3.Connection, statement: str, parameters: Any, many: bool) -> None:
    if many:
        connection.executemany(statement, parameters)
    elif parameters is None:
        connection.execute(statement)
    else:
        connection.execute(statement, parameters)


def _run(
    connection: sqlite3.Connection,
    before: list[Waiting],
    operation: str,
    parameters: Any,
    many: bool,
) -> Outcome:
    """On the worker thread: the waiting statements, then execute, fetch everything, close."""
    _run_waiting(connection, before, operation.startswith("ROLLBACK"))
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
        connection: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        waiting = connection._waiting
        if operation.startswith(_MARKED) or (
            not many
            and not parameters
            and operation.startswith(_SAVEPOINTS)
            and not (connection._writes_waiting and operation.startswith("RELEASE"))
        ):
            marked = operation.startswith(_MARKED)
            waiting.append((operation, parameters if marked else None, many))
            connection._writes_waiting |= marked
            self._description, self._rowcount, self._lastrowid = None, -1, None
            self._rows = collections.deque()
            return
        async with connection._execute_mutex:
            before = waiting[:]
            waiting.clear()
            connection._writes_waiting = False
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
    __slots__ = ("_waiting", "_writes_waiting")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._waiting: list[Waiting] = []  # statements for the next trip
        self._writes_waiting = False  # any RIDES_ALONG write among them

    def queue_savepoint(self, sql: str) -> bool:
        """Queue ``SAVEPOINT``/``RELEASE SAVEPOINT`` for the next trip without a statement
        execution of its own; False when it must run now (a RELEASE while writes wait)."""
        if self._writes_waiting and sql.startswith("RELEASE"):
            return False
        self._waiting.append((sql, None, False))
        return True

    def commit(self) -> None:
        if self._writes_waiting:  # never drop a write: run them (in one trip) first
            before = [w for w in self._waiting if w[1] is not None]
            self._waiting.clear()
            self._writes_waiting = False
            try:
                await_(
                    self._connection._execute(_run_waiting, self._connection._conn, before, False)
                )
            except Exception as error:
                self._handle_exception(error)
        self._waiting.clear()  # COMMIT releases every savepoint
        super().commit()

    def rollback(self) -> None:
        self._waiting.clear()  # ROLLBACK ends every savepoint and undoes every write
        self._writes_waiting = False
        super().rollback()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy's adapter does
        return OneTripConnection(self, await_(connection))


def plain_savepoints(dialect: Any) -> None:
    """Make ``dialect`` issue ``SAVEPOINT``/``RELEASE``/``ROLLBACK TO`` as plain SQL. SQLAlchemy
    compiles a fresh clause for each (a savepoint's name is not cached), which was two
    compilations per unit of work under group commit; the SQL is the same."""
    quote = dialect.identifier_preparer.quote

    def run(connection: Any, sql: str) -> None:
        # A savepoint that can wait for the next trip skips the statement execution layer
        # (cursor, context, events): it was a tenth of a message's CPU under group commit.
        driver = connection.connection.dbapi_connection
        if not (
            isinstance(driver, OneTripConnection)
            and not sql.startswith("ROLLBACK")
            and driver.queue_savepoint(sql)
        ):
            connection.exec_driver_sql(sql)

    dialect.do_savepoint = lambda c, name: run(c, f"SAVEPOINT {quote(name)}")
    dialect.do_release_savepoint = lambda c, name: run(c, f"RELEASE SAVEPOINT {quote(name)}")
    dialect.do_rollback_to_savepoint = lambda c, name: run(
        c, f"ROLLBACK TO SAVEPOINT {quote(name)}"
    )
