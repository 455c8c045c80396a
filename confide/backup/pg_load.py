"""Putting a ``pg_dump -Fc`` stream back into PostgreSQL: ``pg_restore`` of the whole dump
(``restore``), and for ``verify`` the parallel load of tables and rows into a scratch database
beside the live one (``pg_scratch``), reading the row counts back.

A custom-format dump read from a pipe cannot be restored with ``--jobs`` (that needs a file,
and the opened dump is never written to disk), so verify runs several ``pg_restore`` processes
at once, each fed its own opening of the sealed stream and each restoring its share of the
tables (``share_out``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from confide.backup.snapshot import SnapshotFacts, count_sql, libpq_url
from confide.core.db import Database
from confide.core.errors import Conflict

# What ``verify`` restores: tables and their rows, not the indexes and constraints that
# ``post-data`` rebuilds (a large part of a full restore). ``restore`` puts everything back.
VERIFY_OPTIONS = ("--no-owner", "--no-privileges", "--exit-on-error")
# A throw-away target need not wait for each commit to reach the disk.
_NO_SYNC = {"PGOPTIONS": "-c synchronous_commit=off"}


async def pg_restore(url: str, dump: AsyncIterable[bytes]) -> None:
    """Restore a custom-format dump into the database at ``url`` (dropping what it replaces,
    so a run that was killed can simply be run again). Raises ``RuntimeError`` with
    pg_restore's last line."""
    options = ("--clean", "--if-exists", "--no-owner", "--single-transaction")
    await _pg_restore_pass(("-d", libpq_url(url), *options), dump)


async def pg_restore_for_verify(
    url: str,
    open_dump: Callable[[bool], AsyncIterable[bytes]],
    first_tables: Sequence[str],
    loaded: Callable[[Sequence[str]], None],
    row_counts: Mapping[str, int] | None = None,
) -> SnapshotFacts:
    """Restore the schema and every row (no ``post-data``) into the scratch database at
    ``url`` and return its facts (``pg_facts``). ``first_tables`` are loaded by a pass of
    their own; ``loaded(tables)`` is called as each pass finishes, with the tables it loaded,
    so that checking them (the audit chains, the keys the data needs) runs while the others
    load; each pass then counts its own tables' rows.

    ``open_dump(whole)`` opens the sealed dump again for each pass. The listing and
    ``pre-data`` run at once and read only the start of the stream (pg_restore stops reading,
    the stream is closed). Then the first tables' pass and ``VERIFY_PROCESSES`` passes for
    the rest run at once, the rest's tables shared out by ``row_counts`` (the manifest's) in
    runs of the dump's order (``share_out``), each pass reading its own opening of the
    stream: a dump read from a pipe cannot use ``--jobs``, and the opened dump is never
    written to disk. Every pass but the last stops reading after its last table; the last
    (``whole``, the one to show progress for) reads the stream to its end even when
    pg_restore needs no more, so every chunk is checked. The large scratch tables are made
    ``UNLOGGED`` before any row goes in: a throw-away copy needs no write-ahead log (not the
    small ones: each change is a catalog transaction, for a few rows saved). Raises
    ``RuntimeError`` with pg_restore's last line."""
    target = ("-d", libpq_url(url), *VERIFY_OPTIONS)
    printed, _ = await _all(
        [
            _pg_restore_pass(("-l",), open_dump(False)),
            _pg_restore_pass((*target, "--section=pre-data"), open_dump(False)),
        ]
    )
    listing = printed.decode().splitlines()
    counts = row_counts or {}
    first = [line for line in listing if _table_of(line) in first_tables]
    rest = [line for line in listing if _table_of(line) not in first_tables]
    groups = [share for share in [first, *share_out(rest, counts, VERIFY_PROCESSES)] if share]
    counted: dict[str, int] = {}
    db = Database(url)

    async def load(index: int, options: Sequence[str], *, whole: bool) -> bytes:
        printed = await _pg_restore_pass(options, open_dump(whole), to_the_end=whole)
        tables = [name for name in map(_table_of, groups[index]) if name is not None]
        loaded(tables)
        counted.update(await _count_rows(db, tables))
        return printed

    try:
        await _unlogged(db, [name for name, rows in counts.items() if rows >= UNLOGGED_FROM_ROWS])
        with tempfile.TemporaryDirectory() as tmp:  # the lists name tables, no data
            passes = []
            for index, lines in enumerate(groups):
                list_file = Path(tmp) / f"pass{index}.list"
                list_file.write_text("\n".join(lines) + "\n")
                options = (*target, "--section=data", f"--use-list={list_file}")
                passes.append(load(index, options, whole=index == len(groups) - 1))
            await _all(passes)
        return await pg_facts(db, counted)
    finally:
        await db.dispose()


# pg_restore processes loading a verify's data at once besides the first tables' pass: one
# PostgreSQL backend each parses and inserts its tables' rows, which is most of a verify's time.
VERIFY_PROCESSES = 2
_TABLE_DATA = re.compile(r" TABLE DATA public (\S+) ")


def _table_of(line: str) -> str | None:
    found = _TABLE_DATA.search(f"{line} ")
    return None if found is None else found.group(1)


def share_out(
    listing: Sequence[str], row_counts: Mapping[str, int], groups: int
) -> list[list[str]]:
    """Split a ``pg_restore -l`` listing into at most ``groups`` listings, each a run of the
    listing's tables in its order (a dump read from a pipe is restored in its own order) of
    about as many rows each (a table goes to the next run when less than half of it fits
    under this run's share). Every line that is not a table's data (comments, sequence
    values) goes to the last run. Runs without a table are left out.

    Why runs: a pass stops reading the stream after its last table, so only the last pass
    decrypts, decompresses and pipes the whole dump, the others only up to their run's end
    (about 1.5 openings of the dump for two passes, rather than two)."""
    total = sum(row_counts.get(name, 0) for name in map(_table_of, listing) if name is not None)
    group_of: list[int | None] = []
    group, done, in_group = 0, 0, 0
    for line in listing:
        name = _table_of(line)
        if name is None:
            group_of.append(None)
            continue
        rows = row_counts.get(name, 0)
        if group < groups - 1 and in_group and done + rows / 2 > total * (group + 1) / groups:
            group, in_group = group + 1, 0
        group_of.append(group)
        done, in_group = done + rows, in_group + 1
    last = max((g for g in group_of if g is not None), default=0)
    shares: list[list[str]] = [[] for _ in range(last + 1)]
    for line, found in zip(listing, group_of, strict=True):
        shares[last if found is None else found].append(line)
    return shares


async def _all(passes: Sequence[Coroutine[Any, Any, bytes]]) -> list[bytes]:
    """Run the passes at once and return what each printed; on the first failure cancel the
    others and raise it (not an ``ExceptionGroup``: callers tell a corrupt chunk from a
    pg_restore failure)."""
    tasks = [asyncio.ensure_future(each) for each in passes]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in tasks:
            error = task.exception() if task.done() else None
            if error is not None:
                raise error
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _unlogged(db: Database, tables: Sequence[str]) -> None:
    """Make ``tables`` of the scratch database ``UNLOGGED`` (still empty: nothing to copy), in
    one transaction (one commit to wait for, not one per table)."""
    async with db.engine.begin() as conn:
        for name in tables:
            count_sql(name)  # checks the name
            await conn.execute(text(f'ALTER TABLE public."{name}" SET UNLOGGED'))


# Tables with at least this many rows (in the manifest) are loaded without write-ahead log.
UNLOGGED_FROM_ROWS = 10_000


async def _pg_restore_pass(
    options: Sequence[str], dump: AsyncIterable[bytes], *, to_the_end: bool = False
) -> bytes:
    """Run pg_restore once, feeding it ``dump``; returns what it printed. It may stop reading
    before the end (a listing, one section): the rest of the stream is then not opened,
    unless ``to_the_end``: then it is read (checked, authenticated) to its end anyway.

    The dump goes through a plain pipe written by a worker thread (a blocking write lets go
    of the GIL): copying hundreds of MB into pipes is then off the event loop, which walks
    the audit chains meanwhile."""
    read_end, write_end = os.pipe()
    _widen(write_end)
    try:
        process = await asyncio.create_subprocess_exec(
            "pg_restore",
            *options,
            stdin=read_end,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **_NO_SYNC},
        )
    except BaseException:
        os.close(write_end)
        raise
    finally:
        os.close(read_end)
    assert process.stdout and process.stderr
    output = asyncio.create_task(process.stdout.read())
    errors = asyncio.create_task(process.stderr.read())
    writing: concurrent.futures.Future[None] | None = None
    try:
        try:
            stream = aiter(dump)
            async for chunk in stream:
                writing = _WRITERS.submit(_write_all, write_end, chunk)
                await asyncio.wrap_future(writing)
            os.close(write_end)
            write_end = -1
        except BrokenPipeError:
            # pg_restore had read all it needed; its exit code says how it went
            if to_the_end:
                async for _ in stream:
                    pass
        finally:
            if isinstance(dump, AsyncGenerator):
                await dump.aclose()
        printed, error = await output, (await errors).decode(errors="replace").strip()
        if await process.wait() != 0:
            raise RuntimeError(f"pg_restore failed: {error.splitlines()[-1] if error else '?'}")
        return printed
    finally:
        for task in (output, errors):
            task.cancel()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        if writing is not None:  # pg_restore is gone: a write still under way fails at once
            with contextlib.suppress(OSError):
                await asyncio.wrap_future(writing)
        if write_end >= 0:
            os.close(write_end)


# Threads writing into pg_restore's pipes: one per pass of a verify at once, and a spare.
_WRITERS = concurrent.futures.ThreadPoolExecutor(
    max_workers=VERIFY_PROCESSES + 2, thread_name_prefix="pg-restore-pipe"
)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# The pipe into pg_restore, when the system allows (Linux's default limit): fewer, larger
# writes and wake-ups than through the default 64 KiB while hundreds of MB go through.
PIPE_BYTES = 1024 * 1024


def _widen(fd: int) -> None:
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep the default
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


async def pg_facts(db: Database, counted: Mapping[str, int] | None = None) -> SnapshotFacts:
    """Row counts of every table in ``public`` and the schema version; a table in ``counted``
    keeps the count given there, every other table is counted (one query)."""
    known = counted or {}
    facts = SnapshotFacts()
    async with db.engine.connect() as conn:
        names = sorted(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
        )
        if "alembic_version" in names:
            facts.schema_version = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    found = await _count_rows(db, [name for name in names if name not in known])
    facts.row_counts = {name: known[name] if name in known else found[name] for name in names}
    return facts


async def _count_rows(db: Database, tables: Sequence[str]) -> dict[str, int]:
    """``count(*)`` of each of ``tables`` (one query)."""
    if not tables:
        return {}
    counts = " UNION ALL ".join(
        f"SELECT {index}, ({count_sql(name)})" for index, name in enumerate(tables)
    )
    async with db.engine.connect() as conn:
        return {tables[index]: count for index, count in (await conn.execute(text(counts))).all()}


VERIFY_DATABASE_SUFFIX = "_verify"
_VERIFY_LOCK = "SELECT pg_try_advisory_lock(hashtext('confide-backup-verify'))"
_EMPTY_SCHEMA = ("DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")


def verify_database_url(url: str) -> str:
    """The scratch database beside ``url`` that ``verify`` restores into: ``<name>_verify``."""
    base, name = url.rsplit("/", 1)
    return f"{base}/{(name + VERIFY_DATABASE_SUFFIX)[-63:]}"


@contextlib.asynccontextmanager
async def pg_scratch(url: str) -> AsyncIterator[str]:
    """An empty database for ``verify`` beside the database at ``url``; yields its URL.

    Why not a new database each time: ``DROP DATABASE`` makes the whole server checkpoint
    immediately (PostgreSQL flushes every dirty page of every database and waits), which on a
    busy server took longer than the verify itself. So ``<name>_verify`` is created once and
    kept; its ``public`` schema is emptied before and after each use (``DROP SCHEMA ...
    CASCADE`` only unlinks files). An advisory lock held for the duration keeps two verifies
    apart. A verify killed midway leaves the restored copy there until the next verify
    starts. Raises ``Conflict`` when another verify holds the lock."""
    scratch = verify_database_url(url)
    name = scratch.rsplit("/", 1)[1]
    admin = Database(url.rsplit("/", 1)[0] + "/postgres")
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            found = await conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found.first() is None:
                with contextlib.suppress(DBAPIError):  # another verify created it meanwhile
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    db = Database(scratch)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if not (await conn.execute(text(_VERIFY_LOCK))).scalar_one():
                raise Conflict(
                    "Another `confide backup verify` is running on this server; try again "
                    "when it has finished."
                )
            for statement in _EMPTY_SCHEMA:
                await conn.execute(text(statement))
            try:
                yield scratch
            finally:
                for statement in _EMPTY_SCHEMA:
                    await conn.execute(text(statement))
    finally:
        await db.dispose()
