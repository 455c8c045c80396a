"""What an erasure leaves for the key store: a journal entry and tombstones written before its
commit, destruction retried from the tombstones when it did not happen after the commit, the
next key epoch recorded in the audit chain (issue 11), and a run's keys destroyed in purges of
several batches, only for the batches that committed."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from confide.access.models import Operator
from confide.audit.models import AuditEvent
from confide.jobs.kinds import KINDS
from confide.privacy.erasure import do_erase_subject
from confide.privacy.journal import record_erasure
from confide.privacy.key_cache import KeyPurge
from confide.privacy.keys import do_advance_key_epoch, retry_key_destruction
from confide.runtime import Runtime
from tests.conftest import World


async def _subject_of(rt: Runtime, operator_id: uuid.UUID) -> uuid.UUID:
    async with rt.db.session() as session:
        subject_id = await session.scalar(
            select(Operator.subject_id).where(Operator.id == operator_id)
        )
    assert subject_id is not None
    return subject_id


async def test_an_erasure_is_journaled_with_ids_only(world: World, rt: Runtime) -> None:
    await world.operator("ada")
    eve = await world.operator("eve", name="Eve Quokka-Example")
    subject_id = await _subject_of(rt, eve.id)
    assert await rt.keyring.store.data_key(str(subject_id)) is not None

    await do_erase_subject(rt, None, "operator", eve.id)

    (entry,) = await rt.keyring.store.journal_entries()
    assert entry.kind == "erasure" and entry.workspace_id == str(world.workspaces["acme"])
    assert str(subject_id) in entry.subject_ids and str(subject_id) in entry.key_ids
    assert "Quokka" not in entry.subject_ids + entry.key_ids
    assert await rt.keyring.store.verify_journal() is None
    assert await rt.keyring.store.data_key(str(subject_id)) is None
    assert await rt.keyring.store.tombstoned_but_present(10) == []


async def test_a_destruction_that_never_ran_is_retried_from_the_tombstones(
    world: World, rt: Runtime
) -> None:
    eve = await world.operator("eve")
    subject_id = await _subject_of(rt, eve.id)
    # As if the process died right after COMMIT: recorded and tombstoned, never destroyed.
    async with rt.db.transaction() as tx:
        await record_erasure(
            rt,
            tx,
            kind="erasure",
            workspace_id=world.workspaces["acme"],
            subject_ids=[subject_id],
            key_ids=[subject_id],
        )
    assert await rt.keyring.store.data_key(str(subject_id)) is not None
    assert await retry_key_destruction(rt, limit=10) == 0  # within the grace: left alone
    assert await retry_key_destruction(rt, limit=10, grace=timedelta(0)) == 1
    assert await rt.keyring.store.data_key(str(subject_id)) is None
    assert await rt.keyring.store.tombstoned_but_present(10) == []


async def test_the_epoch_after_an_erasure_is_recorded(world: World, rt: Runtime) -> None:
    ada = await world.operator("ada", name="Ada Example")
    eve = await world.operator("eve")
    assert not (await do_advance_key_epoch(rt)).advanced
    await do_erase_subject(rt, None, "operator", eve.id)
    report = await do_advance_key_epoch(rt)
    assert report.advanced and report.workspaces_rotated == 1 and report.epochs_destroyed == 1
    async with rt.db.session() as session:
        actions = list((await session.scalars(select(AuditEvent.action))).all())
    assert "keys.epoch" in actions
    # The others' data stays readable under the new epoch, from the key store alone.
    rt.keyring.forget()
    ada_subject = await _subject_of(rt, ada.id)
    async with rt.db.session() as session:
        fields = await rt.vault.read_fields(session, [ada_subject])
    assert fields[ada_subject]["name"] == "Ada Example"


def test_the_worker_runs_epochs_and_retries_on_a_schedule() -> None:
    assert KINDS["advance_key_epoch"].every_seconds == 60
    assert KINDS["retry_key_destruction"].every_seconds == 300


async def test_a_purge_destroys_the_keys_of_committed_units_only(rt: Runtime) -> None:
    workspace_id = uuid.uuid4()
    first, rolled_back, third = keys = [uuid.uuid4() for _ in range(3)]
    for key_id in keys:
        await rt.keyring.encrypt(workspace_id, key_id, "text", f"t:{key_id}")

    async def exists(key_id: uuid.UUID) -> bool:
        return await rt.keyring.store.data_key(str(key_id)) is not None

    purge = KeyPurge(rt, keys_per_purge=2)
    async with rt.db.transaction() as tx:
        purge.add_on_commit(tx, [first])
    assert await exists(first)  # one key gathered: below the purge size, kept for now
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as tx:
            purge.add_on_commit(tx, [rolled_back])
            raise RuntimeError("the batch fails")
    async with rt.db.transaction() as tx:
        purge.add_on_commit(tx, [third])
    assert not await exists(first) and not await exists(third)  # two gathered: one purge
    assert await purge.flush() == 0
    assert await exists(rolled_back)  # its unit never committed
