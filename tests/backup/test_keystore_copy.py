"""A backup's key-store copy: wrapped keys only, it restores a lost key store while the
master-key epoch it was made under exists, and never after a later erasure's key epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from confide.access.models import Operator, Role
from confide.backup.actions import do_create_backup
from confide.backup.keystore_copy import do_restore_key_store
from confide.core.errors import BackupInvalid
from confide.crypto.keyring import Keyring
from confide.crypto.keystore import KeyStore
from confide.privacy.erasure import do_erase_subject
from confide.privacy.keys import do_advance_key_epoch
from confide.privacy.vault import Vault
from confide.runtime import Runtime
from tests.conftest import World


async def test_the_key_store_copy_restores_a_lost_key_store(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    ada = await world.operator("ada", Role.ADMIN, name="Ada Example")
    eve = await world.operator("eve")
    await do_erase_subject(rt, None, "operator", eve.id)
    manifest = await do_create_backup(rt)
    copy = (rt.settings.resolved_backups_dir / "keystore" / f"{manifest['id']}.cfs").read_bytes()
    wrapped = (await rt.keyring.store.workspace_keys(str(world.workspaces["acme"])))[1].wrapped
    assert wrapped not in copy  # sealed, not merely exported

    url = f"sqlite+aiosqlite:///{tmp_path / 'restored-keys.db'}"
    counts = await do_restore_key_store(rt, manifest["id"], url)
    assert counts["data_keys"] >= 1 and counts["workspace_keys"] >= 1
    store = KeyStore(url)
    try:
        # The erasure journal comes back with the keys, chain intact, up to the backup.
        assert await store.journal_head() == await rt.keyring.store.journal_head() != (0, "0" * 64)
        assert await store.verify_journal() is None
        vault = Vault(rt.secret, Keyring(rt.keyring.provider, store))
        async with rt.db.session() as session:
            subject = await session.scalar(select(Operator.subject_id).where(Operator.id == ada.id))
            assert subject is not None
            fields = await vault.read_fields(session, [subject])
        assert fields[subject]["name"] == "Ada Example"
    finally:
        await store.close()


async def test_the_key_store_copy_dies_with_the_next_key_epoch(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    eve = await world.operator("eve")
    manifest = await do_create_backup(rt)
    await do_erase_subject(rt, None, "operator", eve.id)
    await do_advance_key_epoch(rt)
    with pytest.raises(BackupInvalid, match="cannot be opened"):
        await do_restore_key_store(rt, manifest["id"], f"sqlite+aiosqlite:///{tmp_path / 'k.db'}")
