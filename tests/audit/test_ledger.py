"""The hash chain: it verifies when intact and names the first edited, missing or reordered
record; it survives erasure of a subject; concurrent appends never fork it."""

from __future__ import annotations

import asyncio
import itertools
import uuid

import pytest
from sqlalchemy import func, select

from confide import audit
from confide.audit import ledger
from confide.audit.ledger import Actor
from confide.audit.models import AuditEvent
from confide.audit.verify import verify_chain
from confide.runtime import Runtime
from tests.audit.helpers import chain, delete_record, fill_chain, swap_seq, tamper
from tests.conftest import World


@pytest.fixture
async def workspace_id(world: World) -> uuid.UUID:
    return await world.workspace("acme")


async def test_intact_chain_verifies(rt: Runtime, workspace_id: uuid.UUID) -> None:
    events = await fill_chain(rt, workspace_id, 7)
    report = await verify_chain(rt, workspace_id, batch_size=3)  # several batches
    assert report.ok, report.problem
    assert (report.records, report.head_seq, report.head_hash) == (7, 7, events[-1].hash)
    stored = await chain(rt, workspace_id)
    assert [e.seq for e in stored] == list(range(1, 8))
    assert stored[0].prev_hash == ledger.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))


async def test_edited_record_is_reported_at_its_seq(rt: Runtime, workspace_id: uuid.UUID) -> None:
    await fill_chain(rt, workspace_id, 6)
    await tamper(rt, workspace_id, 4, action="conversation.list")
    report = await verify_chain(rt, workspace_id, batch_size=2)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("edited", 4)
    assert report.records == 3


async def test_edited_last_record_with_recomputed_hash_is_caught_by_the_head(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 3)
    last = (await chain(rt, workspace_id))[-1]
    last.action = "nothing.happened"
    await tamper(rt, workspace_id, 3, action=last.action, hash=ledger.event_hash(last))
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("edited", 3)


async def test_deleted_record_is_reported_missing(rt: Runtime, workspace_id: uuid.UUID) -> None:
    await fill_chain(rt, workspace_id, 6)
    await delete_record(rt, workspace_id, 3)
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("missing", 3)


async def test_deleted_last_records_are_reported_missing(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    await fill_chain(rt, workspace_id, 5)
    await delete_record(rt, workspace_id, 5)
    await delete_record(rt, workspace_id, 4)
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("missing", 4)


async def test_swapped_records_are_reported_reordered(rt: Runtime, workspace_id: uuid.UUID) -> None:
    await fill_chain(rt, workspace_id, 6)
    await swap_seq(rt, workspace_id, 3, 4)
    report = await verify_chain(rt, workspace_id)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.seq) == ("reordered", 3)


async def test_tampering_in_one_workspace_leaves_other_chains_intact(
    rt: Runtime, world: World, workspace_id: uuid.UUID
) -> None:
    other = await world.workspace("globex")
    await fill_chain(rt, workspace_id, 3)
    await fill_chain(rt, other, 3)
    await tamper(rt, workspace_id, 2, resource="conversation:elsewhere")
    assert not (await verify_chain(rt, workspace_id)).ok
    assert (await verify_chain(rt, other)).ok


async def test_details_are_stored_encrypted_under_the_subject_key(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    subject_id = uuid.uuid4()
    actor = Actor("operator", uuid.uuid4(), workspace_id)
    event = await audit.record(
        rt, actor, "visitor.identify", subject_id=subject_id, details={"email": "eve@example.org"}
    )
    stored = (await chain(rt, workspace_id))[0]
    assert stored.details_encrypted is not None
    assert "eve@example.org" not in stored.details_encrypted
    assert await ledger.read_details(rt, stored) == ({"email": "eve@example.org"}, False)
    # The ciphertext is bound to its event: copied onto another record it does not open.
    other = await audit.record(rt, actor, "visitor.identify", subject_id=subject_id)
    other.details_encrypted = event.details_encrypted
    assert await ledger.read_details(rt, other) == (None, True)


async def test_chain_still_verifies_after_the_subject_is_erased(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    await fill_chain(rt, workspace_id, 3, subject_id=erased)
    await fill_chain(rt, workspace_id, 2, subject_id=kept)
    assert await rt.keyring.destroy(erased)

    report = await verify_chain(rt, workspace_id)
    assert report.ok, report.problem
    assert report.records == 5
    page, _ = await ledger.list_events(rt, workspace_id, limit=10)
    by_subject = {(e["subject_id"], e["erased"], str(e["details"])) for e in page}
    assert by_subject == {
        (str(erased), True, "None"),
        (str(kept), False, "{'n': 1}"),
        (str(kept), False, "{'n': 2}"),
    }


async def test_details_about_no_one_use_the_chain_key_and_stay_readable(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    actor = Actor("operator", uuid.uuid4(), workspace_id)
    await audit.record(rt, actor, "workspace.settings", details={"mfa_required_for_admins": False})
    page, has_more = await ledger.list_events(rt, workspace_id, limit=10)
    assert not has_more
    assert page[0]["details"] == {"mfa_required_for_admins": False}
    assert page[0]["erased"] is False


async def test_concurrent_appends_produce_a_gap_free_chain(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    actor = Actor("operator", uuid.uuid4(), workspace_id)
    await asyncio.gather(
        *(
            audit.record(rt, actor, "conversation.read", subject_id=uuid.uuid4(), details={"n": n})
            for n in range(20)
        )
    )
    stored = await chain(rt, workspace_id)
    assert [e.seq for e in stored] == list(range(1, 21))
    details = [(await ledger.read_details(rt, e))[0] for e in stored]
    assert sorted(d["n"] for d in details if d) == list(range(20))
    report = await verify_chain(rt, workspace_id)
    assert report.ok, report.problem
    assert report.records == 20


async def test_concurrent_first_appends_from_two_runtimes_share_one_head(
    rt: Runtime, workspace_id: uuid.UUID
) -> None:
    """Two nodes (two runtimes, two connection pools) racing to start the same chain."""
    other = Runtime.from_settings(rt.settings)
    try:
        actor = Actor("system", None, workspace_id)
        await asyncio.gather(
            *(audit.record(node, actor, "keys.rotate") for node in (rt, other) for _ in range(5))
        )
    finally:
        await other.close()
    assert [e.seq for e in await chain(rt, workspace_id)] == list(range(1, 11))
    assert (await verify_chain(rt, workspace_id)).ok


async def test_platform_events_form_their_own_chain(rt: Runtime, workspace_id: uuid.UUID) -> None:
    await audit.record(rt, None, "keys.rotate", resource="keyring")
    await audit.record(rt, None, "keys.rotate", resource="keyring")
    await fill_chain(rt, workspace_id, 1)
    platform = await chain(rt, None)
    assert [(e.seq, e.actor_kind, e.workspace_id) for e in platform] == [
        (1, "system", None),
        (2, "system", None),
    ]
    assert (await verify_chain(rt, None)).ok
    async with rt.db.session() as session:
        total = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert total == 3
