"""Signed checkpoints: they verify, a forged one is caught, and a chain rewritten with fresh
hashes is caught by the checkpoints signed before (stored, or exported and kept elsewhere)."""

from __future__ import annotations

import base64
import dataclasses
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select

from confide.audit import checkpoints, ledger
from confide.audit.checkpoints import SignedHead, create_checkpoint
from confide.audit.ledger import GENESIS_HASH, event_hash
from confide.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from confide.audit.verify import verify_chain
from confide.core.clock import utcnow
from confide.runtime import Runtime
from tests.audit.helpers import chain, fill_chain
from tests.conftest import World


@pytest.fixture
async def workspace_id(world: World) -> uuid.UUID:
    return await world.workspace("acme")


async def _rewrite_chain(rt: Runtime, workspace_id: uuid.UUID, seq: int, action: str) -> None:
    """What someone with write access to the database can do: edit a record and recompute
    every hash after it, and the head, so that the chain alone looks intact."""
    async with rt.db.transaction() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.workspace_id == workspace_id)
                .order_by(AuditEvent.seq)
            )
        ).all()
        prev = GENESIS_HASH
        for event in events:
            if event.seq == seq:
                event.action = action
            event.prev_hash = prev
            event.hash = prev = event_hash(event)
        head = await session.get(AuditHead, str(workspace_id))
        assert head is not None
        head.hash = prev


async def test_checkpoint_signature_verifies_with_the_workspace_key(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    events = await fill_chain(rt, workspace_id, 4)
    signed = await create_checkpoint(rt, workspace_id)
    assert signed is not None
    assert (signed.seq, signed.head_hash) == (4, events[-1].hash)
    assert signed.signature_valid()
    assert signed.public_key == await checkpoints.trusted_public_key(rt, workspace_id)
    # A second checkpoint is signed by the same key; the private key is in the key store only.
    await fill_chain(rt, workspace_id, 2)
    second = await create_checkpoint(rt, workspace_id)
    assert second is not None and second.public_key == signed.public_key and second.seq == 6
    report = await verify_chain(rt, workspace_id)
    assert report.ok, report.problem
    assert report.checkpoints == 2


async def test_signing_key_is_kept_only_sealed_in_the_key_store(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 1)
    signed = await create_checkpoint(rt, workspace_id)
    assert signed is not None
    raw = (await checkpoints._signing_key(rt, workspace_id)).private_bytes_raw()
    stored = await rt.keyring.store.signing_key(f"audit:{workspace_id}")
    assert stored is not None
    assert base64.b64encode(raw).decode() not in stored.sealed_private_key
    for path in rt.settings.data_dir.glob("*.db*"):  # the key store and (on SQLite) the data
        content = path.read_bytes()
        assert raw not in content and base64.b64encode(raw) not in content, path


async def test_empty_chain_has_no_checkpoint(rt: Runtime, workspace_id: uuid.UUID) -> None:
    assert await create_checkpoint(rt, workspace_id) is None


async def test_checkpoint_signed_with_another_key_is_reported_forged(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    events = await fill_chain(rt, workspace_id, 3)
    await create_checkpoint(rt, workspace_id)  # the workspace key exists
    forger = Ed25519PrivateKey.generate()
    at = ledger.iso_time(utcnow())
    message = checkpoints.checkpoint_message(str(workspace_id), 2, events[1].hash, at)
    async with rt.db.transaction() as session:
        session.add(
            AuditCheckpoint(
                workspace_id=workspace_id,
                seq=2,
                head_hash=events[1].hash,
                signature=base64.b64encode(forger.sign(message)).decode(),
                public_key=base64.b64encode(forger.public_key().public_bytes_raw()).decode(),
                at=utcnow(),
            )
        )
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("checkpoint_forged", 2)


async def test_checkpoint_with_an_altered_head_is_reported_forged(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 3)
    await create_checkpoint(rt, workspace_id)
    async with rt.db.transaction() as session:
        row = await session.scalar(select(AuditCheckpoint))
        assert row is not None
        row.head_hash = "f" * 64
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("checkpoint_forged", 3)


async def test_rewritten_chain_is_caught_by_an_earlier_checkpoint(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 5)
    await create_checkpoint(rt, workspace_id)
    await fill_chain(rt, workspace_id, 2)
    await _rewrite_chain(rt, workspace_id, 2, "nothing.happened")
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("checkpoint_mismatch", 5)


async def test_exported_checkpoints_catch_a_rewrite_of_chain_and_checkpoints(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 4)
    await create_checkpoint(rt, workspace_id)
    exported = checkpoints.load_exported(json.dumps(await checkpoints.export_checkpoints(rt)))
    assert [(s.workspace_id, s.seq) for s in exported] == [(str(workspace_id), 4)]

    await _rewrite_chain(rt, workspace_id, 1, "nothing.happened")
    async with rt.db.transaction() as session:
        await session.execute(delete(AuditCheckpoint))
    assert (await verify_chain(rt, workspace_id)).ok  # the database alone looks fine
    report = await verify_chain(rt, workspace_id, external=exported)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("checkpoint_mismatch", 4)


async def test_checkpoint_beyond_the_end_reveals_deleted_records(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 4)
    signed = await create_checkpoint(rt, workspace_id)
    assert signed is not None
    second = (await chain(rt, workspace_id))[1]
    async with rt.db.transaction() as session:  # the head is "fixed" too: only the checkpoint knows
        await session.execute(delete(AuditEvent).where(AuditEvent.seq >= 3))
        head = await session.get(AuditHead, str(workspace_id))
        assert head is not None
        head.seq, head.hash = 2, second.hash
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("missing", 4)


def test_tampered_signed_head_does_not_verify() -> None:
    key = Ed25519PrivateKey.generate()
    message = checkpoints.checkpoint_message(None, 3, "a" * 64, "2026-01-01T00:00:00.000000+00:00")
    signed = SignedHead(
        workspace_id=None,
        seq=3,
        head_hash="a" * 64,
        at="2026-01-01T00:00:00.000000+00:00",
        signature=base64.b64encode(key.sign(message)).decode(),
        public_key=base64.b64encode(key.public_key().public_bytes_raw()).decode(),
    )
    assert signed.signature_valid()
    assert not dataclasses.replace(signed, seq=4).signature_valid()
    assert not dataclasses.replace(signed, signature="not base64!").signature_valid()


def test_export_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError):
        checkpoints.load_exported('{"format": "something-else", "checkpoints": []}')


async def test_chains_sign_a_checkpoint_every_so_many_events(
    rt: Runtime, workspace_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "CHECKPOINT_EVERY_EVENTS", 3)
    await fill_chain(rt, workspace_id, 7)
    stored = await checkpoints.stored_checkpoints(rt, workspace_id)
    assert [s.seq for s in stored] == [3, 6]
    assert (await verify_chain(rt, workspace_id)).checkpoints == 2


async def test_a_failing_periodic_checkpoint_does_not_fail_the_recorded_act(
    rt: Runtime, workspace_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def key_store_down(*_args: object) -> None:
        raise ConnectionError("key store unreachable")

    monkeypatch.setattr(ledger, "CHECKPOINT_EVERY_EVENTS", 2)
    monkeypatch.setattr(rt.keyring.store, "signing_key", key_store_down)
    await fill_chain(rt, workspace_id, 2)
    assert [e.seq for e in await chain(rt, workspace_id)] == [1, 2]
    assert await checkpoints.stored_checkpoints(rt, workspace_id) == []
