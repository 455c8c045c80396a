from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from confide.core.migrate import alembic_config, current_revision
from confide.models import metadata
from confide.runtime import Runtime


async def test_migrations_produce_exactly_the_models_schema(rt: Runtime) -> None:
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with rt.db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == [], "Generate a migration for the model changes."


async def test_database_is_at_the_single_head_revision(rt: Runtime) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1
    assert await current_revision(rt.db) == heads[0]


@pytest.mark.postgres
async def test_suite_really_runs_on_postgresql(rt: Runtime) -> None:
    assert rt.db.engine.dialect.name == "postgresql"
    async with rt.db.engine.connect() as conn:
        version = (await conn.execute(text("select version()"))).scalar_one()
    assert version.startswith("PostgreSQL")


async def test_sqlite_database_runs_in_wal_mode(rt: Runtime) -> None:
    if not rt.db.is_sqlite:
        assert rt.db.engine.dialect.name == "postgresql"
        return
    async with rt.db.engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    assert (mode, fks) == ("wal", 1)
