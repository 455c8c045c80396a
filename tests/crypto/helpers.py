"""A key store on the suite's backend: a SQLite file, or its own PostgreSQL database (the key
store is always a database apart from the data, ``confide.crypto.keystore``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import text

from confide.core.db import Database
from confide.crypto.keystore import KeyStore

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def key_store_on(backend: str, tmp_path: Path) -> AsyncIterator[KeyStore]:
    """A fresh, empty key store with its schema, dropped afterwards on PostgreSQL."""
    if backend == "sqlite":
        store = KeyStore(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
        await store.create_schema()
        try:
            yield store
        finally:
            await store.close()
        return
    admin_url = os.environ.get("CONFIDE_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    name = f"confide_keys_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    store = KeyStore(admin_url.rsplit("/", 1)[0] + f"/{name}")
    await store.create_schema()
    try:
        yield store
    finally:
        await store.close()
        await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(admin_url: str, statement: str) -> None:
    admin = Database(admin_url)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(statement))
    await admin.dispose()
