"""Consistent snapshots of the data database, and putting one back, per backend.

- **SQLite**: the online backup API (``sqlite3.Connection.backup``) copies the live database
  page by page into a private temporary file while the server keeps writing; the copy is one
  consistent state. Row counts and the schema version are read from that copy.
- **PostgreSQL**: one ``REPEATABLE READ`` transaction exports its snapshot
  (``pg_export_snapshot()``), counts rows in it and keeps it open while ``pg_dump -Fc
  --snapshot`` dumps exactly that state; the dump is streamed from pg_dump's stdout, never
  written to disk in clear. ``confide.backup.pg_load`` puts it back.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from confide.core.db import Database

PAGES_PER_STEP = 4096
PIPE_CHUNK_BYTES = 256 * 1024


@dataclass
class SnapshotFacts:
    """What the manifest records about a snapshot: ``row_counts`` per table and the Alembic
    ``schema_version``."""

    schema_version: str | None = None
    row_counts: dict[str, int] = field(default_factory=dict)


def count_sql(table: str) -> str:
    """``SELECT count(*)`` of a table named by the database's own catalog (checked anyway)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
        raise ValueError(f"Unexpected table name {table!r}.")
    return f'SELECT count(*) FROM "{table}"'  # noqa: S608  (a checked catalog name)


def sqlite_path(url: str) -> Path:
    return Path(url.split("///", 1)[1])


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://`` -> ``postgresql://`` for pg_dump and pg_restore."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sqlite_snapshot(source: Path, target: Path, progress: Callable[[int, int], None]) -> None:
    """Copy ``source`` into ``target`` (mode 0600) with the online backup API."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(
            dst,
            pages=PAGES_PER_STEP,
            progress=lambda _s, left, total: progress(total - left, total),
        )
    finally:
        dst.close()
        src.close()


def sqlite_facts(path: Path) -> SnapshotFacts:
    """Facts of a finished copy nothing else has open. ``immutable``: read-only alone would
    still create ``-wal`` and ``-shm`` beside a WAL-mode file, and could not remove them."""
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        facts = SnapshotFacts()
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        for name in names:
            facts.row_counts[name] = conn.execute(count_sql(name)).fetchone()[0]
        if "alembic_version" in names:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            facts.schema_version = row[0] if row else None
        return facts
    finally:
        conn.close()


async def read_file(
    path: Path, progress: Callable[[int], None] | None = None
) -> AsyncIterator[bytes]:
    done = 0
    with path.open("rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, PIPE_CHUNK_BYTES):
            done += len(chunk)
            if progress is not None:
                progress(done)
            yield chunk


async def write_file(path: Path, chunks: AsyncIterable[bytes]) -> None:
    """Write ``chunks`` to ``path`` (mode 0600, truncated first) and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        async for chunk in chunks:
            await asyncio.to_thread(handle.write, chunk)
        handle.flush()
        os.fsync(handle.fileno())


async def pg_facts_and_dump(db: Database) -> tuple[SnapshotFacts, AsyncIterator[bytes]]:
    """Count rows in an exported snapshot and stream ``pg_dump -Fc`` of that same snapshot.
    The snapshot's transaction stays open until the returned stream is exhausted or closed."""
    conn = await db.engine.connect()
    conn = await conn.execution_options(isolation_level="REPEATABLE READ")
    trans = await conn.begin()
    snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
    tables = (
        await conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        )
    ).scalars()
    facts = SnapshotFacts()
    for name in list(tables):
        facts.row_counts[name] = (await conn.execute(text(count_sql(name)))).scalar_one()
    if "alembic_version" in facts.row_counts:
        facts.schema_version = (
            await conn.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one_or_none()

    async def stream() -> AsyncIterator[bytes]:
        process = await asyncio.create_subprocess_exec(
            "pg_dump",
            "-Fc",
            "-Z0",
            f"--snapshot={snapshot}",
            libpq_url(db.url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            while chunk := await process.stdout.read(PIPE_CHUNK_BYTES):
                yield chunk
            if await process.wait() != 0:
                assert process.stderr is not None
                error = (await process.stderr.read()).decode(errors="replace").strip()
                raise RuntimeError(f"pg_dump failed: {error.splitlines()[-1] if error else '?'}")
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await trans.rollback()
            await conn.close()

    return facts, stream()


async def pg_admin(url: str, statement: str) -> None:
    """Run CREATE/DROP DATABASE through the server's ``postgres`` database."""
    admin = Database(url.rsplit("/", 1)[0] + "/postgres")
    try:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()
