from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from confide.core.db import Database
from confide.core.migrate import alembic_config, current_revision, upgrade
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


async def test_0006_gives_existing_privacy_settings_the_default_retention(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(db, "0005")
        workspace_id = uuid.uuid4().hex
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO workspaces (id, slug, name, mfa_required_for_admins, created_at)"
                    " VALUES (:id, 'old-shop', 'Old shop', 0, '2026-01-01 00:00:00')"
                ),
                {"id": workspace_id},
            )
            await conn.execute(
                text(
                    "INSERT INTO workspace_privacy_settings (workspace_id, redact_cards,"
                    " redact_ibans, redact_phones, redact_emails, redaction_patterns,"
                    " ip_handling, store_transcripts, connection_log_retention_days,"
                    " consent_required, updated_at) VALUES (:id, 1, 1, 0, 0, '[]', 'none', 1,"
                    " 7, 0, '2026-01-01 00:00:00')"
                ),
                {"id": workspace_id},
            )
        await upgrade(db)
        async with db.engine.connect() as conn:
            stored = (
                await conn.execute(text("SELECT retention_days FROM workspace_privacy_settings"))
            ).scalar_one()
    finally:
        await db.dispose()
    assert json.loads(stored) == {"web": 365, "social": 365, "call": 365, "sms": 365, "video": 365}
