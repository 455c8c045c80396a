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
import contextlib
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
    first_loaded: Callable[[], None],
    row_counts: Mapping[str, int] | None = None,
) -> None:
    """Restore the schema and every row (no ``post-data``) into the scratch database at
    ``url``; ``first_tables`` by a pass of their own, ``first_loaded`` called as soon as they
    are in, so that checking them (the audit chains) runs while the rest loads.

    ``open_dump(whole)`` opens the sealed dump again for each pass. The listing and
    ``pre-data`` run at once and read only the start of the stream (pg_restore stops reading,
    the stream is closed). Then the first tables' pass and ``VERIFY_PROCESSES`` passes for
    the rest run at once, the rest's tables shared out by ``row_counts`` (the manifest's),
    each pass reading its own opening of the stream: a dump read from a pipe cannot use
    ``--jobs``, and the opened dump is never written to disk. The first of the rest's passes
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
    listing = printed.decode()
    counts = row_counts or {}
    await _unlogged(url, [name for name, rows in counts.items() if rows >= UNLOGGED_FROM_ROWS])

    async def first_pass() -> bytes:
        tables = [f"--table={name}" for name in first_tables]
        printed = await _pg_restore_pass((*target, "--section=data", *tables), open_dump(False))
        first_loaded()
        return printed

    first = {f" TABLE DATA public {name} " for name in first_tables}
    rest = [line for line in listing.splitlines() if not any(f in f"{line} " for f in first)]
    groups = share_out(rest, counts, VERIFY_PROCESSES)
    with tempfile.TemporaryDirectory() as tmp:  # the lists name tables, no data
        passes = [first_pass()]
        for index, lines in enumerate(groups):
            list_file = Path(tmp) / f"rest{index}.list"
            list_file.write_text("\n".join(lines) + "\n")
            options = (*target, "--section=data", f"--use-list={list_file}")
            whole = index == 0
            passes.append(_pg_restore_pass(options, open_dump(whole), to_the_end=whole))
        await _all(passes)


# pg_restore processes loading a verify's data at once: one PostgreSQL backend each parses
# and inserts its tables' rows, which is most of a verify's time.
VERIFY_PROCESSES = 2
_TABLE_DATA = re.compile(r" TABLE DATA public (\S+) ")


def share_out(
    listing: Sequence[str], row_counts: Mapping[str, int], groups: int
) -> list[list[str]]:
    """Split a ``pg_restore -l`` listing into ``groups`` listings of about as many rows each
    (largest table first, to the group with the fewest rows so far), each in the listing's
    order (a dump read from a pipe is restored in its own order); every line that is not a
    table's data (comments, sequence values) goes to the first. Empty groups are left out."""
    group_of = [0] * len(listing)
    loads = [0] * groups
    tables = []
    for index, line in enumerate(listing):
        found = _TABLE_DATA.search(f"{line} ")
        if found is not None:
            tables.append((row_counts.get(found.group(1), 0), index))
    for rows, index in sorted(tables, key=lambda item: -item[0]):
        group_of[index] = least = loads.index(min(loads))
        loads[least] += rows
    shares = [
        [line for line, group in zip(listing, group_of, strict=True) if group == n]
        for n in range(groups)
    ]
    return [share for n, share in enumerate(shares) if n == 0 or n in group_of]


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


async def _unlogged(url: str, tables: Sequence[str]) -> None:
    """Make ``tables`` of the scratch database ``UNLOGGED`` (still empty: nothing to copy)."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for name in tables:
                count_sql(name)  # checks the name
                await conn.execute(text(f'ALTER TABLE public."{name}" SET UNLOGGED'))
    finally:
        await db.dispose()


# Tables with at least this many rows (in the manifest) are loaded without write-ahead log.
UNLOGGED_FROM_ROWS = 10_000


async def _pg_restore_pass(
    options: Sequence[str], dump: AsyncIterable[bytes], *, to_the_end: bool = False
) -> bytes:
    """Run pg_restore once, feeding it ``dump``; returns what it printed. It may stop reading
    before the end (a listing, one section): the rest of the stream is then not opened,
    unless ``to_the_end``: then it is read (checked, authenticated) to its end anyway."""
    process = await asyncio.create_subprocess_exec(
        "pg_restore",
        *options,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **_NO_SYNC},
    )
    assert process.stdin and process.stdout and process.stderr
    output = asyncio.create_task(process.stdout.read())
    errors = asyncio.create_task(process.stderr.read())
    try:
        try:
            stream = aiter(dump)
            async for chunk in stream:
                process.stdin.write(chunk)
                await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
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


async def pg_facts(url: str) -> SnapshotFacts:
    """Row counts of every table in ``public`` (one query) and the schema version."""
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            facts = SnapshotFacts()
            names = sorted(
                (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                ).scalars()
            )
            if names:
                counts = " UNION ALL ".join(
                    f"SELECT {index}, ({count_sql(name)})" for index, name in enumerate(names)
                )
                for index, count in (await conn.execute(text(counts))).all():
                    facts.row_counts[names[index]] = count
            if "alembic_version" in facts.row_counts:
                facts.schema_version = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
            return facts
    finally:
        await db.dispose()


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
