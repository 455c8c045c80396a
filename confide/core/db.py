"""Database engine, sessions and the unit of work for SQLite and PostgreSQL.

Writes go through :meth:`Database.transaction`, which yields a :class:`UnitOfWork`: the
transaction's session plus the work to do once it has committed. It commits when the block
ends and rolls back on any error, so no action leaves half-written state. Everything that must
not happen for a rolled-back change (publishing an event, destroying a key, dropping a cache
entry, sending a delivery) is scheduled with :meth:`UnitOfWork.on_commit` and runs, in order,
only after COMMIT; a rolled-back unit runs none of it. The audit record of an act is appended
in the act's own unit (``confide.audit.ledger.append``), so both commit or neither does.

On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up front
instead of failing half-way with "database is locked") and one process has one write
transaction open at a time; WAL mode lets readers continue meanwhile. Units of work that arrive
while one is writing share its transaction, each in its own savepoint, and its COMMIT (group
commit, ``confide.core.group_commit``): a unit's block returns only after that COMMIT, and one
unit's failure rolls back that unit alone. After-commit work runs once the write lock is
released, so a slow subscriber never holds up the next writer.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from confide.core.batched_writes import BatchedWrites
from confide.core.group_commit import GroupCommit
from confide.core.sqlite_driver import OneTripDbapi, plain_savepoints

log = logging.getLogger("confide.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, on every backend (SQLite stores naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Naive datetimes are not stored; use confide.core.clock.utcnow().")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def value_enum(cls: type[enum.Enum], name: str) -> Enum:
    """An enum column stored as its values (not member names), as portable VARCHAR + CHECK."""
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e])


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UnitOfWork(AsyncSession):
    """The session of one write transaction and the work to run after it commits.

    It is an :class:`AsyncSession` (actions use it as their session) with one addition:
    :meth:`on_commit`. Callbacks run in the order they were scheduled, after COMMIT and outside
    the SQLite write lock; one that fails is logged by its exception type (never its text,
    which may hold personal data) and the others still run, because the commit stands: events
    are recovered by resume and deliveries by their job; a key destruction that fails is
    retried by the ``retry_key_destruction`` job from the key store's tombstones, which the
    erasure writes before it commits (``confide.privacy.journal``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._after_commit: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def on_commit(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` (a function or coroutine function) once this unit commits."""
        self._after_commit.append((callback, args))

    @property
    def pending_after_commit(self) -> int:
        """How many callbacks wait for the commit (tests and diagnostics)."""
        return len(self._after_commit)

    async def run_after_commit(self) -> None:
        work, self._after_commit = self._after_commit, []
        for callback, args in work:
            try:
                result = callback(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                name = getattr(callback, "__qualname__", type(callback).__name__)
                log.error("after-commit work %s failed: %s", name, type(exc).__name__)


class Database:
    """The engine and its units of work. ``group_commit_max_units`` (SQLite only) bounds how
    many units share one write transaction; 1 gives each unit its own (no savepoints).
    ``pool_size`` and ``max_overflow`` (PostgreSQL only): connections kept open once opened,
    and opened beyond them at peak (each closed again when returned)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        secure_delete: bool = False,
        group_commit_max_units: int = 64,
        pool_size: int = 30,
        max_overflow: int = 0,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
            kwargs["module"] = OneTripDbapi()  # one thread round trip per statement
            # Every Connection ends its transaction before it goes back to the pool (commit,
            # or rollback on close), so the pool's extra ROLLBACK is a wasted round trip.
            kwargs["pool_reset_on_return"] = None
        else:
            # No pool_pre_ping: a ping before every checkout is a round trip on every message.
            # Only a connection idle for a while is pinged (_ping_idle_connections); one that
            # died meanwhile fails its statement, the pool drops it (and every connection
            # older than the failure), and the send path retries once on a fresh one.
            # LIFO: the connection returned last goes out next, so a light load keeps reusing
            # a few warm ones (no idle ping) and the rest stay idle instead of rotating.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_use_lifo=True)
            # Tells this process's sessions from others' in pg_stat_activity (confide.core.db_use).
            kwargs["connect_args"] = {"server_settings": {"application_name": application_name()}}
        if self.is_sqlite and ":memory:" in url:
            kwargs["poolclass"] = NullPool
        if self.is_sqlite and ":memory:" not in url:
            _create_private_file(url.split("///", 1)[1])
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self.group_commit: GroupCommit | None = None
        # Write programs in one trip per batch (SQLite): the message path's (core/batched_writes).
        self.batched: BatchedWrites | None = None
        if self._write_lock is not None and group_commit_max_units > 1:
            self.group_commit = GroupCommit(
                self.engine, UnitOfWork, group_commit_max_units, self._write_lock
            )
            self.batched = BatchedWrites(
                self.engine,
                self._write_lock,
                # Its own connection runs batches on the loop's thread; busy_timeout 0: it never
                # waits there for another process's write (the batch goes to the driver).
                path=None if ":memory:" in url else url.split("///", 1)[1],
                pragmas=sqlite_pragmas(secure_delete=secure_delete, busy_timeout_ms=0),
            )
        if self.is_sqlite:
            _configure_sqlite(self.engine, secure_delete=secure_delete)
            plain_savepoints(self.engine.dialect)
        else:
            _ping_idle_connections(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A read session. Anything it writes is rolled back: use transaction() to write."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work: commits when the block ends, rolls back on any error; its
        ``on_commit`` callbacks run after a commit only."""
        if self._write_lock is None:
            async with UnitOfWork(self.engine, expire_on_commit=False) as unit:
                async with unit.begin():
                    yield unit
            await unit.run_after_commit()
            return
        if self.group_commit is not None:
            async with self.group_commit.unit() as unit:
                yield unit
            return
        async with self._write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(confide_begin="BEGIN IMMEDIATE")
            async with UnitOfWork(bind=conn, expire_on_commit=False) as unit:
                async with unit.begin():
                    yield unit
        await unit.run_after_commit()

    async def dispose(self) -> None:
        if self.batched is not None:
            self.batched.close()
        await self.engine.dispose()


def application_name() -> str:
    """The ``application_name`` of this process's PostgreSQL sessions: ``confide/<pid>``."""
    return f"confide/{os.getpid()}"


def _create_private_file(path: str) -> None:
    """Create a SQLite database file readable by its owner only (mode 0600) before SQLite
    does; SQLite gives its ``-wal`` and ``-shm`` files the same mode. An existing file keeps
    the mode its operator chose."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        return  # exists already; or its directory does not, and SQLite will say so
    os.close(fd)


# A pooled connection unused for longer than this is pinged before it is handed out: it may
# have died with a restart of the server (or a proxy's idle timeout) while it slept.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["confide_idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("confide_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or busy a moment ago: no round trip
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (SQLAlchemy retries).
            raise DisconnectionError("idle connection died") from exc


def sqlite_pragmas(*, secure_delete: bool, busy_timeout_ms: int = 30_000) -> list[str]:
    """The PRAGMAs every SQLite connection of a process runs when it opens."""
    pragmas = ["journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"]
    pragmas.append(f"busy_timeout={busy_timeout_ms}")
    if secure_delete:  # overwrite deleted content instead of leaving it in free pages
        pragmas.append("secure_delete=ON")
    return pragmas


def _configure_sqlite(engine: AsyncEngine, *, secure_delete: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in sqlite_pragmas(secure_delete=secure_delete):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get("confide_begin", "BEGIN"))
