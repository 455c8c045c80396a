"""A restore target on the suite's backend: a SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from confide.backup.snapshot import pg_admin
from confide.runtime import Runtime


@asynccontextmanager
async def restore_target(rt: Runtime, tmp_path: Path) -> AsyncIterator[str]:
    if rt.db.is_sqlite:
        yield f"sqlite+aiosqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"
        return
    name = f"confide_restored_{uuid.uuid4().hex[:10]}"
    await pg_admin(rt.db.url, f'CREATE DATABASE "{name}"')
    try:
        yield rt.db.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_admin(rt.db.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
