"""Backups (issue 19): a restore never brings back what was erased or expired after the
backup; verify names the corrupt chunk and fails clearly with the wrong key; prune by age."""

from __future__ import annotations

import dataclasses
import struct
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, inspect, select

from confide.access.models import Operator, Role
from confide.audit.models import AuditEvent
from confide.backup.actions import do_create_backup, do_prune_backups, keep_days, list_backups
from confide.backup.restore import _load, do_restore_backup, verify_backup
from confide.backup.sealing import backup_key_id
from confide.core.clock import utcnow
from confide.core.db import Database
from confide.core.errors import BackupInvalid
from confide.crypto.keyring import Keyring
from confide.crypto.keystore import DataKey, ErasureJournalEntry, KeyStore
from confide.crypto.providers import LocalKeyProvider
from confide.crypto.streams import HEADER_BYTES
from confide.jobs.kinds import KINDS
from confide.models import metadata
from confide.privacy import settings as privacy_settings
from confide.privacy.erasure import do_erase_subject, erase_conversation_rows
from confide.privacy.journal import record_erasure
from confide.privacy.key_cache import destroy_keys
from confide.privacy.keys import do_advance_key_epoch
from confide.runtime import Runtime
from tests.backup.helpers import restore_target
from tests.chat.helpers import new_visitor, start_chat
from tests.conftest import World

ERASED_USERNAME = "eve.wombat"
EXPIRED_PHRASE = "platypus invoice 7731"


async def _expire_by_retention(
    rt: Runtime, workspace_id: uuid.UUID, conversation: uuid.UUID
) -> None:
    """Retention's end of life, simulated with the erasure engine (the retention job is another
    issue's): journal the deletion, delete the rows the map reaches, destroy the key."""
    async with rt.db.transaction() as tx:
        await record_erasure(
            rt, tx, kind="retention", workspace_id=workspace_id, key_ids=[conversation]
        )
    assert await erase_conversation_rows(rt, [conversation]) == 1
    await destroy_keys(rt, [conversation])


async def _everything(db: Database) -> str:
    parts = []
    async with db.session() as session:
        for table in metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(parts)


async def test_restore_brings_back_neither_the_erased_nor_the_expired(
    world: World, client: httpx.AsyncClient, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    eve = await world.operator(ERASED_USERNAME, name="Eve Wombat")
    visitor = await new_visitor(client)
    chat = await start_chat(client, visitor, EXPIRED_PHRASE)
    conversation = uuid.UUID(chat["conversation"]["id"])
    manifest = await do_create_backup(rt)

    await do_erase_subject(rt, None, "operator", eve.id)
    await _expire_by_retention(rt, world.workspaces["acme"], conversation)

    async with restore_target(rt, tmp_path) as raw, restore_target(rt, tmp_path) as target:
        # Without the journal, the backup still holds both: this is what a restore must undo.
        await _load(rt, manifest["id"], manifest, raw, lambda *_: None)
        plain_copy = Database(raw)
        assert ERASED_USERNAME in await _everything(plain_copy)
        await plain_copy.dispose()

        report = await do_restore_backup(rt, manifest["id"], target)
        assert report.entries == 2 and report.people == 1 and report.conversations == 1
        restored = Database(target)
        try:
            rows = await _everything(restored)
            for needle in (
                ERASED_USERNAME,
                "Wombat",
                EXPIRED_PHRASE,
                "platypus",
                str(conversation),
            ):
                assert needle not in rows, needle
            async with restored.session() as session:
                usernames = (await session.scalars(select(Operator.username))).all()
                actions = (await session.scalars(select(AuditEvent.action))).all()
            assert "ada" in usernames and ERASED_USERNAME not in usernames
            assert "backup.restore" in actions
        finally:
            await restored.dispose()
        if rt.db.is_sqlite:
            raw_bytes = Path(target.split("///", 1)[1]).read_bytes()
            assert ERASED_USERNAME.encode() not in raw_bytes
            assert EXPIRED_PHRASE.encode() not in raw_bytes

        # Running the restore again (as after an interruption) ends in the same state; the
        # re-erasure journaled itself too, and replaying that entry changes nothing.
        again = await do_restore_backup(rt, manifest["id"], target)
        assert again.entries == 3 and again.conversations == 1
        restored = Database(target)
        try:
            assert ERASED_USERNAME not in await _everything(restored)
        finally:
            await restored.dispose()


async def test_a_sound_backup_verifies(world: World, rt: Runtime) -> None:
    await world.operator("ada", Role.ADMIN)
    manifest = await do_create_backup(rt)
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is None, result.problem
    assert result.chains >= 1 and result.rows == sum(manifest["row_counts"].values())
    assert manifest["row_counts"]["operators"] == 1 and manifest["schema_version"]
    assert manifest["keystore"]["rows"]["data_keys"] >= 2  # ada's and the backup's own
    assert result.keystore.startswith("key-store copy: ") and "data keys" in result.keystore


def _chunk_offsets(blob: bytes) -> list[int]:
    offsets, at = [], HEADER_BYTES
    while at < len(blob):
        offsets.append(at)
        (length,) = struct.unpack(">I", blob[at : at + 4])
        at += 4 + length
    return offsets


async def test_one_flipped_byte_fails_verify_naming_the_chunk(world: World, rt: Runtime) -> None:
    await world.operator("ada", Role.ADMIN)
    manifest = await do_create_backup(rt)
    path = rt.settings.resolved_backups_dir / manifest["id"] / "data.cfs"
    blob = bytearray(path.read_bytes())
    offsets = _chunk_offsets(bytes(blob))
    assert len(offsets) == len(manifest["chunks"])
    chunk = len(offsets) - 1
    blob[offsets[chunk] + 20] ^= 0x01
    path.write_bytes(bytes(blob))
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "\n" not in result.problem
    assert f"chunk {chunk} is corrupt" in result.problem


async def test_the_wrong_key_fails_clearly(world: World, rt: Runtime, tmp_path: Path) -> None:
    manifest = await do_create_backup(rt)
    other_store = KeyStore(f"sqlite+aiosqlite:///{tmp_path / 'other-keys.db'}")
    await other_store.create_schema()
    other = Keyring(
        LocalKeyProvider.from_environment_or_file(None, tmp_path / "other.key"), other_store
    )
    try:
        result = await verify_backup(dataclasses.replace(rt, keyring=other), manifest["id"])
    finally:
        await other_store.close()
    assert result.problem is not None
    assert "its key is not in this key store" in result.problem


async def test_prune_removes_backups_past_their_age_and_destroys_their_keys(
    world: World, rt: Runtime
) -> None:
    await world.operator("ada", Role.ADMIN)
    first = await do_create_backup(rt)
    assert await keep_days(rt) == 7
    assert await do_prune_backups(rt, now=utcnow() + timedelta(days=6)) == []
    removed = await do_prune_backups(rt, now=utcnow() + timedelta(days=8))
    assert removed == [first["id"]] and await list_backups(rt) == []
    assert await rt.keyring.store.data_key(str(backup_key_id(first["id"]))) is None
    assert not (rt.settings.resolved_backups_dir / first["id"]).joinpath("data.cfs").exists()
    async with rt.db.session() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
    assert actions.count("backup.prune") == 2


async def test_backups_are_kept_no_longer_than_retention_allows(world: World, rt: Runtime) -> None:
    workspace_id = await world.workspace()
    async with rt.db.transaction() as session:
        await privacy_settings.apply(session, workspace_id, {"connection_log_retention_days": 2})
    assert await keep_days(rt) == 2


async def test_a_rewritten_erasure_journal_stops_the_restore(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    eve, fay, gus = [await world.operator(name) for name in ("eve", "fay", "gus")]
    await do_erase_subject(rt, None, "operator", eve.id)
    manifest = await do_create_backup(rt)
    await do_erase_subject(rt, None, "operator", fay.id)
    await do_erase_subject(rt, None, "operator", gus.id)
    async with rt.keyring.store.db.transaction() as session:
        # Someone drops fay's erasure from the journal, so a restore would bring her back.
        await session.execute(delete(ErasureJournalEntry).where(ErasureJournalEntry.seq == 2))
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "erasure journal" in result.problem
    async with restore_target(rt, tmp_path) as target:
        with pytest.raises(BackupInvalid, match="erasure journal"):
            await do_restore_backup(rt, manifest["id"], target)


async def test_a_journal_cut_at_its_newest_entry_stops_the_restore(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    eve = await world.operator("eve")
    manifest = await do_create_backup(rt)
    await do_erase_subject(rt, None, "operator", eve.id)
    head, _ = await rt.keyring.store.journal_head()
    async with rt.keyring.store.db.transaction() as session:
        # The newest entry goes: what is left is still a valid chain.
        await session.execute(delete(ErasureJournalEntry).where(ErasureJournalEntry.seq == head))
    assert await rt.keyring.store.verify_journal() is None
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "\n" not in result.problem
    assert f"the audit ledger anchors entry {head}" in result.problem
    async with restore_target(rt, tmp_path) as target:
        with pytest.raises(BackupInvalid, match=f"journal ends at entry {head - 1} but"):
            await do_restore_backup(rt, manifest["id"], target)
        fresh = Database(target)
        try:
            assert "operators" not in await _table_names(fresh)  # nothing was restored
        finally:
            await fresh.dispose()


async def _table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_a_corrupt_key_store_copy_fails_verify(world: World, rt: Runtime) -> None:
    await world.operator("ada", Role.ADMIN)
    manifest = await do_create_backup(rt)
    path = rt.settings.resolved_backups_dir / "keystore" / f"{manifest['id']}.cfs"
    blob = bytearray(path.read_bytes())
    blob[-40] ^= 0x01
    path.write_bytes(bytes(blob))
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "\n" not in result.problem
    assert "the key-store copy does not match its SHA-256 in the manifest" in result.problem
    path.unlink()
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "key-store copy is missing" in result.problem


async def test_verify_fails_when_a_key_the_data_needs_is_lost_without_an_erasure(
    world: World, rt: Runtime
) -> None:
    ada = await world.operator("ada", Role.ADMIN, name="Ada Example")
    async with rt.db.session() as session:
        subject = await session.scalar(select(Operator.subject_id).where(Operator.id == ada.id))
    async with rt.keyring.store.db.transaction() as session:
        # A key gone without a tombstone or a journal entry: the copy cannot open her fields.
        await session.execute(delete(DataKey).where(DataKey.id == str(subject)))
    manifest = await do_create_backup(rt)
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "\n" not in result.problem
    assert f"the key-store copy has no key {subject}" in result.problem


async def test_verify_fails_when_a_conversation_key_its_texts_need_is_lost(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    # On PostgreSQL the message texts are loaded by a pass of their own and their keys read as
    # soon as it ends, while other tables still load: the check must cover them all the same.
    await world.operator("ada", Role.ADMIN)
    chat = await start_chat(client, await new_visitor(client), "Hello there")
    conversation = chat["conversation"]["id"]
    async with rt.keyring.store.db.transaction() as session:
        await session.execute(delete(DataKey).where(DataKey.id == conversation))
    manifest = await do_create_backup(rt)
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is not None and "\n" not in result.problem
    assert f"the key-store copy has no key {conversation}" in result.problem


async def test_a_key_store_copy_retired_by_a_key_epoch_still_verifies(
    world: World, rt: Runtime
) -> None:
    await world.operator("ada", Role.ADMIN)
    eve = await world.operator("eve")
    manifest = await do_create_backup(rt)
    await do_erase_subject(rt, None, "operator", eve.id)
    await do_advance_key_epoch(rt)
    result = await verify_backup(rt, manifest["id"])
    assert result.problem is None, result.problem
    assert "retired by a key epoch" in result.keystore


def test_the_worker_backs_up_daily() -> None:
    kind = KINDS["backup"]
    assert kind.every_seconds == 86_400 and not kind.in_transaction
