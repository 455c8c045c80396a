"""Hot statements (the message path's few statements on the driver's cursor) give the rows,
the values and the errors SQLAlchemy's execution gives, on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from confide.access.models import Workspace
from confide.core import hot_statements
from confide.core.hot_statements import HotStatement
from confide.runtime import Runtime

_WORKSPACES: Table = Workspace.__table__  # type: ignore[assignment]
_INSERT = HotStatement(insert(_WORKSPACES))
_RENAME = HotStatement(
    update(_WORKSPACES)
    .where(_WORKSPACES.c.slug == bindparam("the_slug"))
    .values(name=bindparam("new_name"), mfa_required_for_admins=False)
    .returning(_WORKSPACES.c.id, _WORKSPACES.c.created_at, _WORKSPACES.c.mfa_required_for_admins)
)


def _row(slug: str, created_at: datetime) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "slug": slug,
        "name": slug.title(),
        "mfa_required_for_admins": True,
        "created_at": created_at,
    }


async def test_rows_written_and_returned_match_what_sqlalchemy_reads(rt: Runtime) -> None:
    created_at = datetime(2026, 11, 30, 12, 30, 5, 123456, tzinfo=UTC)
    row = _row("hot", created_at)
    async with rt.db.transaction() as tx:
        connection = await tx.connection()
        assert await hot_statements.execute(connection, _INSERT, row) == []
        returned = await hot_statements.execute(
            connection, _RENAME, {"the_slug": "hot", "new_name": "Renamed"}
        )
    assert len(returned) == 1
    assert returned[0].id == row["id"]
    assert returned[0].created_at == created_at
    assert returned[0].mfa_required_for_admins is False
    async with rt.db.session() as session:
        stored = await session.scalar(select(Workspace).where(Workspace.slug == "hot"))
    assert stored is not None
    assert (stored.id, stored.name, stored.created_at) == (row["id"], "Renamed", created_at)
    assert stored.mfa_required_for_admins is False


async def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_rolls_back(
    rt: Runtime,
) -> None:
    now = datetime.now(UTC)
    with pytest.raises(IntegrityError):
        async with rt.db.transaction() as tx:
            connection = await tx.connection()
            await hot_statements.execute(connection, _INSERT, [_row("twice", now)] * 1)
            await hot_statements.execute(connection, _INSERT, _row("twice", now))
    async with rt.db.session() as session:
        assert await session.scalar(select(Workspace).where(Workspace.slug == "twice")) is None


async def test_a_statement_that_needs_python_defaults_is_refused_on_the_short_way(
    rt: Runtime,
) -> None:
    async with rt.db.transaction() as tx:
        connection = await tx.connection()
        if connection.dialect.name == "sqlite":
            # The driver's cursor cannot run Python-side defaults: refused, nothing written.
            with pytest.raises(ValueError, match="every value"):
                await hot_statements.execute(connection, _INSERT, {"slug": "x", "name": "X"})
        else:
            # PostgreSQL takes SQLAlchemy's way, which fills the defaults in.
            await hot_statements.execute(connection, _INSERT, {"slug": "x", "name": "X"})
    async with rt.db.session() as session:
        stored = await session.scalar(select(Workspace).where(Workspace.slug == "x"))
    assert (stored is None) == rt.db.is_sqlite
