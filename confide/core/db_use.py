"""Who may use a database at once: servers and workers share it, a restore needs it alone.

A restore replaces the database. On SQLite a server that has the file open keeps its handles on
the file that was renamed over (unlinked): it goes on showing, and writing, data that is no
longer the database, and whatever it writes is lost at its next restart. On PostgreSQL
``pg_restore --clean`` drops the tables the servers are using. So:

- **SQLite**: ``confide serve``, ``confide demo`` and ``confide worker`` hold a shared advisory
  lock (``flock``) on ``<database>.lock`` beside the file for as long as they run
  (:func:`shared_use`); a restore takes it exclusively, without waiting, and holds it until it
  has finished (:func:`sole_use`). Whichever finds the other there refuses in one line
  (``DatabaseInUse``) before touching the database. The kernel drops a ``flock`` with its
  process, even after ``kill -9``, so nothing stale is left; the lock file is never removed (a
  process that still had a removed one open would hold a lock nobody else sees).
- **PostgreSQL**: a restore refuses while any other client session is connected to the target
  database (``pg_stat_activity``), naming how many; this process's own sessions are told apart
  by their ``application_name`` (``confide.core.db.application_name``). It is a check, not a
  lock: a server started after it, while ``pg_restore`` runs, is not stopped.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from sqlalchemy import text

from confide.core.db import Database, application_name
from confide.core.errors import DatabaseInUse

LOCK_SUFFIX = ".lock"

_OTHER_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
    "AND application_name IS DISTINCT FROM :own"
)


def lock_path(url: str) -> Path | None:
    """``<database>.lock`` of a SQLite file; ``None`` for PostgreSQL and ``:memory:``."""
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    database = Path(url.split("///", 1)[1])
    return database.with_name(database.name + LOCK_SUFFIX)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[bool]:
    """Hold ``flock(mode)`` on ``path`` (created 0600) for the block; yields False, holding
    nothing, when another process's lock is in the way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def shared_use(url: str) -> Iterator[None]:
    """Use the database at ``url`` alongside other servers and workers for the block (a
    server's or worker's whole life). Raises ``DatabaseInUse`` while a restore replaces it."""
    path = lock_path(url)
    if path is None:
        yield
        return
    with _locked(path, fcntl.LOCK_SH) as held:
        if not held:
            raise DatabaseInUse(
                f"A restore into {path.with_suffix('')} is under way: start again once it "
                "has finished."
            )
        yield


@asynccontextmanager
async def sole_use(url: str) -> AsyncIterator[None]:
    """Have the database at ``url`` to this process alone for the block (a restore). Raises
    ``DatabaseInUse``, having changed nothing, while a server or worker uses it."""
    path = lock_path(url)
    if path is None:
        if not url.startswith("sqlite"):
            await _refuse_other_sessions(url)
        yield
        return
    with _locked(path, fcntl.LOCK_EX) as held:
        if not held:
            raise DatabaseInUse(
                f"{path.with_suffix('')} is in use by a running Confide server or worker (or "
                "another restore): stop it, then run the restore again; nothing was restored."
            )
        yield


async def _refuse_other_sessions(url: str) -> None:
    db = Database(url, pool_size=1, max_overflow=0)
    try:
        async with db.session() as session:
            others = await session.scalar(_OTHER_SESSIONS, {"own": application_name()})
            name = await session.scalar(text("SELECT current_database()"))
    finally:
        await db.dispose()
    if others:
        raise DatabaseInUse(
            f"{others} other session(s) are connected to database {name} (Confide servers or "
            "workers, or other clients): stop them, then run the restore again; nothing was "
            "restored."
        )
