"""Claims, leases, retries and deduplication of jobs, on the suite's backend (SQLite or
PostgreSQL), through the real queue functions and a clock the tests move."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from confide.core import clock
from confide.core.errors import NotFound, ValidationFailed
from confide.jobs.kinds import KINDS
from confide.jobs.models import Job, JobStatus
from confide.jobs.queue import (
    claim_next_job,
    do_enqueue_job,
    enqueue_due_schedules,
    heartbeat,
    held_job,
    record_failure,
    release,
    retry_delay_seconds,
    sync_schedules,
)
from confide.runtime import Runtime
from tests.jobs.helpers import job

PURGE = "purge_connection_logs"
ALL_KINDS = list(KINDS)
FAKE_PERSONAL_TEXT = "ada.lovelace@example.invalid"


async def test_a_claimed_job_is_not_claimed_again_until_its_lease_expires(rt: Runtime) -> None:
    job_id = await do_enqueue_job(rt, PURGE)
    first = await claim_next_job(rt, "worker-a", ALL_KINDS)
    assert first is not None and first.job_id == job_id
    assert (first.attempt, first.reclaimed_from) == (1, None)
    assert await claim_next_job(rt, "worker-b", ALL_KINDS) is None

    held = await job(rt, first.job_id)
    assert (held.status, held.locked_by) == (JobStatus.RUNNING, "worker-a")
    assert held.lease_expires_at is not None
    # A margin of 20 s of real time: a loaded machine may take seconds between these steps.
    clock.advance(rt.settings.job_lease_seconds - 20)
    assert await claim_next_job(rt, "worker-b", ALL_KINDS) is None

    clock.advance(21)  # worker-a missed its heartbeats: the lease is over
    second = await claim_next_job(rt, "worker-b", ALL_KINDS)
    assert second is not None and second.job_id == job_id
    assert (second.attempt, second.reclaimed_from) == (2, "worker-a")
    assert (await job(rt, job_id)).locked_by == "worker-b"


async def test_heartbeat_keeps_the_lease(rt: Runtime) -> None:
    await do_enqueue_job(rt, PURGE)
    claim = await claim_next_job(rt, "worker-a", ALL_KINDS)
    assert claim is not None
    for _ in range(3):
        clock.advance(rt.settings.job_lease_seconds * 0.6)
        assert await heartbeat(rt, claim)
        assert await claim_next_job(rt, "worker-b", ALL_KINDS) is None


async def test_a_worker_whose_lease_was_taken_over_can_no_longer_touch_the_job(
    rt: Runtime,
) -> None:
    await do_enqueue_job(rt, PURGE)
    stale = await claim_next_job(rt, "worker-a", ALL_KINDS)
    assert stale is not None
    clock.advance(rt.settings.job_lease_seconds + 1)
    current = await claim_next_job(rt, "worker-b", ALL_KINDS)
    assert current is not None

    assert not await heartbeat(rt, stale)
    assert not await release(rt, stale)
    assert await record_failure(rt, stale, RuntimeError("late")) is None
    async with rt.db.transaction() as session:
        assert await held_job(session, stale) is None
        assert await held_job(session, current) is not None
    after = await job(rt, current.job_id)
    assert (after.status, after.locked_by, after.attempts) == (JobStatus.RUNNING, "worker-b", 2)
    assert after.last_error is None


async def test_the_same_worker_reclaiming_its_own_job_is_a_new_claim(rt: Runtime) -> None:
    await do_enqueue_job(rt, PURGE)
    old = await claim_next_job(rt, "worker-a", ALL_KINDS)
    clock.advance(rt.settings.job_lease_seconds + 1)
    new = await claim_next_job(rt, "worker-a", ALL_KINDS)
    assert old is not None and new is not None
    assert not await heartbeat(rt, old)  # fenced by the attempt number, not only the name
    assert await heartbeat(rt, new)


async def test_failed_attempts_back_off_exponentially_then_the_job_fails(rt: Runtime) -> None:
    job_id = await do_enqueue_job(rt, PURGE)
    base = rt.settings.job_retry_backoff_seconds
    max_attempts = KINDS[PURGE].max_attempts
    for attempt in range(1, max_attempts + 1):
        claim = await claim_next_job(rt, "worker-a", ALL_KINDS)
        assert claim is not None and claim.attempt == attempt
        failed = await record_failure(rt, claim, ValueError(f"row of {FAKE_PERSONAL_TEXT}"))
        assert failed is not None
        assert failed.last_error_class == "ValueError"
        assert failed.last_error is not None and FAKE_PERSONAL_TEXT not in failed.last_error
        if attempt == max_attempts:
            break
        assert failed.status is JobStatus.QUEUED and failed.locked_by is None
        delay = base * 2 ** (attempt - 1)
        waited = (failed.run_after - clock.utcnow()).total_seconds()
        assert delay - 1 < waited <= delay
        clock.advance(delay - 1)
        assert await claim_next_job(rt, "worker-a", ALL_KINDS) is None  # still backing off
        clock.advance(1)

    final = await job(rt, job_id)
    assert (final.status, final.attempts) == (JobStatus.FAILED, max_attempts)
    assert final.finished_at is not None
    clock.advance(86_400)
    assert await claim_next_job(rt, "worker-a", ALL_KINDS) is None


def test_backoff_doubles_and_is_capped() -> None:
    assert [retry_delay_seconds(30, n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay_seconds(30, 20) == 3600


async def test_a_job_whose_worker_died_on_its_last_attempt_is_marked_failed(rt: Runtime) -> None:
    job_id = await do_enqueue_job(rt, PURGE)
    async with rt.db.transaction() as session:
        await session.execute(update(Job).values(max_attempts=1))
    assert await claim_next_job(rt, "worker-a", ALL_KINDS) is not None
    clock.advance(rt.settings.job_lease_seconds + 1)
    assert await claim_next_job(rt, "worker-b", ALL_KINDS) is None
    dead = await job(rt, job_id)
    assert (dead.status, dead.last_error_class) == (JobStatus.FAILED, "LeaseExpired")


async def test_a_released_job_is_claimable_at_once_and_the_attempt_is_not_counted(
    rt: Runtime,
) -> None:
    await do_enqueue_job(rt, PURGE)
    claim = await claim_next_job(rt, "worker-a", ALL_KINDS)
    assert claim is not None
    assert await release(rt, claim)
    again = await claim_next_job(rt, "worker-b", ALL_KINDS)
    assert again is not None and (again.attempt, again.reclaimed_from) == (1, None)


async def test_a_dedupe_key_enqueues_one_job_however_many_callers(rt: Runtime) -> None:
    results = await asyncio.gather(
        *(do_enqueue_job(rt, PURGE, dedupe_key="nightly@2026-01-01") for _ in range(8))
    )
    assert len([r for r in results if r is not None]) == 1
    assert await do_enqueue_job(rt, PURGE, dedupe_key="nightly@2026-01-01") is None
    assert await do_enqueue_job(rt, PURGE) is not None  # no key: no deduplication
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 2


async def test_concurrent_claims_never_hand_out_the_same_job(rt: Runtime) -> None:
    enqueued = {await do_enqueue_job(rt, PURGE) for _ in range(12)}
    claims = await asyncio.gather(
        *(claim_next_job(rt, f"worker-{i}", ALL_KINDS) for i in range(16))
    )
    claimed = [c.job_id for c in claims if c is not None]
    assert sorted(claimed, key=str) == sorted(enqueued, key=str)  # each one, exactly once


async def test_workers_claim_only_the_kinds_they_know(rt: Runtime) -> None:
    await do_enqueue_job(rt, PURGE)
    assert await claim_next_job(rt, "old-worker", ["prune_finished_jobs"]) is None
    assert await claim_next_job(rt, "new-worker", ALL_KINDS) is not None


async def test_each_scheduled_run_is_enqueued_once_however_many_workers(rt: Runtime) -> None:
    scheduled = {k.name for k in KINDS.values() if k.every_seconds is not None}
    await asyncio.gather(sync_schedules(rt), sync_schedules(rt))
    first = await asyncio.gather(*(enqueue_due_schedules(rt) for _ in range(6)))
    assert sorted(len(ids) for ids in first)[-1] >= 1
    runs = await _kinds_enqueued(rt)
    assert runs == {name: 1 for name in scheduled}
    assert await enqueue_due_schedules(rt) == []

    clock.advance(61)  # the channel-reply retry runs every minute, the others daily
    await asyncio.gather(*(enqueue_due_schedules(rt) for _ in range(4)))
    runs = await _kinds_enqueued(rt)
    assert runs["deliver_due_channel_replies"] == 2
    assert runs[PURGE] == 1

    clock.advance(3 * 86_400)  # down for three days: one run each, not one per missed period
    await enqueue_due_schedules(rt)
    assert (await _kinds_enqueued(rt))[PURGE] == 2
    assert await enqueue_due_schedules(rt) == []


async def _kinds_enqueued(rt: Runtime) -> dict[str, int]:
    async with rt.db.session() as session:
        rows = (await session.execute(select(Job.kind, func.count()).group_by(Job.kind))).all()
    return {kind: int(count) for kind, count in rows}


async def test_payloads_hold_ids_only(rt: Runtime) -> None:
    with pytest.raises(ValidationFailed) as unknown_key:
        await do_enqueue_job(rt, PURGE, payload={"email": FAKE_PERSONAL_TEXT})
    assert unknown_key.value.field == "payload"
    with pytest.raises(ValidationFailed) as too_long:
        await do_enqueue_job(rt, PURGE, payload={"workspace_id": "x" * 65})
    assert too_long.value.field == "workspace_id"
    with pytest.raises(ValidationFailed):
        await do_enqueue_job(rt, PURGE, payload={"workspace_id": {"nested": "value"}})
    with pytest.raises(NotFound) as no_kind:
        await do_enqueue_job(rt, "send_newsletter")
    assert no_kind.value.field == "kind"
    async with rt.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
