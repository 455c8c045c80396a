"""Hot statements: the few Core statements of the message path, run on the driver's cursor.

Why: SQLAlchemy's execution layer (cache key, execution context, parameter processing, result
metadata, a greenlet switch and its events) cost more CPU per statement than SQLite takes to
run it: the message path measured about a third of its CPU there (``docs/performance.md``).
A :class:`HotStatement` is compiled once per dialect; :func:`execute` binds the parameters
with the statement's own type processors (the same values SQLAlchemy would send), hands the
SQL to the connection's one-trip cursor (``confide.core.sqlite_driver``) and processes the
returned rows with the columns' own result processors. It runs inside the unit of work's
transaction, on its connection, and waiting savepoints and riding writes go with it on the
same trip as with any other statement.

Errors are translated as SQLAlchemy translates them (``sqlalchemy.exc.IntegrityError`` for a
unique key, ...), so callers catch the same exceptions. Only SQLite takes the short way;
PostgreSQL (and a statement given a session rather than a connection) runs through
SQLAlchemy as before. A statement whose INSERT needs Python-side defaults is refused at
compile time: every value must be passed.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Executable

from confide.core.sqlite_driver import OneTripConnection, OneTripCursor

Processor = Callable[[Any], Any] | None


class _Compiled(NamedTuple):
    sql: str
    # Positional: the parameter's name, its bind processor, and the statement's own value for
    # a bound literal (the 1 of ``last_seq + 1``), None for a parameter the caller passes.
    binds: tuple[tuple[str, Processor, Any], ...]
    row: Callable[..., Any] | None  # a named tuple class for returned rows
    results: tuple[Processor, ...]


class HotStatement:
    """A Core statement (``insert(...)``, ``update(...).returning(...)``) compiled once per
    dialect and set of parameter names, for :func:`execute`."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def compiled(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        found = self._compiled.get((dialect.name, keys))
        if found is None:
            found = self._compiled[(dialect.name, keys)] = _compile(self.statement, dialect, keys)
        return found


def _compile(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise ValueError("a hot statement takes every value as a parameter (no Python defaults)")
    processors = compiled._bind_processors
    names = compiled.positiontup or []
    own = {name: bind.value for bind, name in compiled.bind_names.items() if name not in keys}
    binds = tuple((name, processors.get(name), own.get(name)) for name in names)
    columns = compiled._result_columns
    if not columns:
        return _Compiled(compiled.string, binds, None, ())
    row = collections.namedtuple("Row", [c[0] for c in columns])  # type: ignore[misc]
    results = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)
    return _Compiled(compiled.string, binds, row, results)


def _bind(compiled: _Compiled, parameters: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        [
            (parameters[name] if own is None else own)
            if processor is None
            else processor(parameters[name] if own is None else own)
            for name, processor, own in compiled.binds
        ]
    )


async def execute(
    connection: AsyncConnection | AsyncSession,
    hot: HotStatement,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> list[Any]:
    """Run ``hot`` with ``parameters`` (one mapping, or a list for executemany) in the
    connection's transaction; returns its rows (named tuples; empty without RETURNING).
    Raises what SQLAlchemy raises for the same failure (``IntegrityError``, ...)."""
    if not isinstance(connection, AsyncConnection) or connection.dialect.name != "sqlite":
        result = cast("CursorResult[Any]", await connection.execute(hot.statement, parameters))
        return list(result) if result.returns_rows else []
    many = not isinstance(parameters, Mapping)
    batch: list[Mapping[str, Any]] = (
        [parameters] if isinstance(parameters, Mapping) else list(parameters)
    )
    if not batch:
        return []
    dialect = connection.dialect
    compiled = hot.compiled(dialect, tuple(batch[0]))
    bound: Any = [_bind(compiled, p) for p in batch] if many else _bind(compiled, batch[0])
    # The unit's connection has begun its transaction: no I/O to reach the driver's connection.
    adapted: OneTripConnection = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr,assignment]
    cursor = OneTripCursor(adapted)
    try:
        await cursor._one_trip(compiled.sql, bound, many)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            compiled.sql, bound, exc, dialect.loaded_dbapi.Error, dialect=dialect, ismulti=many
        ) from exc
    rows = cursor._rows
    if compiled.row is None or not rows:
        return []
    make, results = compiled.row, compiled.results
    return [
        make(*(value if p is None else p(value) for p, value in zip(results, raw, strict=True)))
        for raw in rows
    ]


def run_sync(
    connection: sqlite3.Connection,
    dialect: Dialect,
    hot: HotStatement,
    parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> list[Any]:
    """:func:`execute` for a write program on the driver's own thread
    (``confide.core.batched_writes``), SQLite only: the same binding and row processing, no
    hand-over. Raises the driver's errors (``sqlite3.IntegrityError``, ...) untranslated."""
    if isinstance(parameters, Mapping):
        compiled = hot.compiled(dialect, tuple(parameters))
        cursor = connection.execute(compiled.sql, _bind(compiled, parameters))
    else:
        batch = list(parameters)
        if not batch:
            return []
        compiled = hot.compiled(dialect, tuple(batch[0]))
        cursor = connection.executemany(compiled.sql, [_bind(compiled, p) for p in batch])
    if compiled.row is None:
        return []
    make, results = compiled.row, compiled.results
    return [
        make(*(value if p is None else p(value) for p, value in zip(results, raw, strict=True)))
        for raw in cursor.fetchall()
    ]
