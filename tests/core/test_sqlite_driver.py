"""Writes that ride along (``core/sqlite_driver.RIDES_ALONG``): on SQLite they wait for the
connection's next statement and run in its trip; they are never lost (a COMMIT runs what still
waits), their errors surface in the same transaction, and a ROLLBACK drops them. On PostgreSQL
the marker is a comment and the same outcomes hold."""

from __future__ import annotations

import pytest
from sqlalchemy import column, func, select, table, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from confide.core.sqlite_driver import RIDES_ALONG
from confide.runtime import Runtime

_PROBE = table("rider_probe", column("id"))
_RIDER = _PROBE.insert().prefix_with(RIDES_ALONG)


async def _count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(_PROBE))).scalar_one())


async def _probe(rt: Runtime) -> AsyncConnection:
    conn = await rt.db.engine.connect()
    await conn.execute(text("CREATE TEMPORARY TABLE rider_probe (id INTEGER PRIMARY KEY)"))
    await conn.commit()
    return conn


async def test_a_riding_write_left_waiting_is_stored_by_the_commit(rt: Runtime) -> None:
    conn = await _probe(rt)
    try:
        await conn.execute(_RIDER, [{"id": 1}, {"id": 2}])
        await conn.execute(_RIDER, {"id": 3})
        await conn.commit()  # nothing ran after them: the COMMIT must not drop them
        assert await _count(conn) == 3
    finally:
        await conn.execute(text("DROP TABLE rider_probe"))
        await conn.commit()
        await conn.close()


async def test_a_riding_write_fails_its_own_transaction_and_a_rollback_drops_them(
    rt: Runtime,
) -> None:
    conn = await _probe(rt)
    try:
        await conn.execute(_RIDER, {"id": 1})
        await conn.commit()
        with pytest.raises(IntegrityError):
            await conn.execute(_RIDER, {"id": 1})  # the same key again
            await conn.execute(select(1))  # on SQLite the rider runs (and fails) here
        await conn.rollback()
        await conn.execute(_RIDER, {"id": 2})
        await conn.rollback()  # undone anyway: never run, never an error
        assert await _count(conn) == 1
        await conn.commit()
    finally:
        await conn.execute(text("DROP TABLE rider_probe"))
        await conn.commit()
        await conn.close()
