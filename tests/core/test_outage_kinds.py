"""A PostgreSQL that refuses more clients is an outage (503 with Retry-After), not a bug (500):
found when four nodes exhausted ``max_connections``. Proven against the real server with a
role whose connection limit is zero, which refuses with the same SQLSTATE (53300)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from confide.core.db import Database
from confide.core.outages import is_outage

pytestmark = pytest.mark.postgres


async def test_a_server_refusing_more_clients_counts_as_an_outage(database_url: str) -> None:
    role = f"confide_full_{uuid.uuid4().hex[:8]}"
    admin = Database(database_url)
    async with admin.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 0'))
    try:
        full = Database(
            make_url(database_url)
            .set(username=role, password=None)
            .render_as_string(hide_password=False)
        )
        with pytest.raises(Exception) as refused:
            async with full.engine.connect() as probe:
                await probe.execute(text("SELECT 1"))
        await full.dispose()
        causes = []
        current: BaseException | None = refused.value
        while current is not None:
            causes.append(current)
            current = current.__cause__ or current.__context__
        assert any(isinstance(c, asyncpg.exceptions.TooManyConnectionsError) for c in causes)
        assert is_outage(refused.value)
    finally:
        async with admin.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        await admin.dispose()
