"""The worker loop in this process: scheduled runs, batches with their cursor, a failure that
rolls back its batch, a graceful stop that hands the job back, and the in-process mode."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from confide.core import clock
from confide.core.config import Settings
from confide.jobs import kinds as job_kinds
from confide.jobs.kinds import KINDS, Batch, BatchResult, JobKind
from confide.jobs.models import Job, JobStatus
from confide.jobs.queue import do_enqueue_job
from confide.jobs.worker import Worker, background_worker
from confide.runtime import Runtime
from tests.jobs.helpers import job, jobs_of, log_ids, silence_schedules, workspace_with_logs

PURGE = "purge_connection_logs"
FAKE_PERSONAL_TEXT = "grace.hopper@example.invalid"


def _tuned(rt: Runtime, **overrides: object) -> Runtime:
    """The same runtime with other job settings (the database and keys are shared)."""
    rt.settings = rt.settings.model_copy(update=overrides)
    return rt


async def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_scheduled_purge_deletes_every_expired_log_once_in_batches(rt: Runtime) -> None:
    _tuned(rt, job_batch_size=3)
    _, acme_old, acme_new = await workspace_with_logs(rt, "acme", expired=7, fresh=2)
    _, globex_old, globex_new = await workspace_with_logs(rt, "globex", expired=2, fresh=1)

    assert await Worker(rt).run(once=True) >= 3  # every recurring kind ran once
    assert await log_ids(rt) == acme_new | globex_new
    [purge] = await jobs_of(rt, PURGE)
    assert (purge.status, purge.attempts, purge.items_done) == (JobStatus.SUCCEEDED, 1, 9)
    # acme: 3 + 3 + 1 (short: next workspace); globex: 2 (short: none left), in id order.
    assert purge.batches_done in (3, 4) and purge.cursor is None
    assert purge.dedupe_key is not None and purge.dedupe_key.startswith(f"{PURGE}@")
    assert {j.status for j in await jobs_of(rt)} == {JobStatus.SUCCEEDED}
    assert len(acme_old | globex_old) == 9

    assert await Worker(rt).run(once=True) == 0  # not due again until tomorrow
    assert len(await jobs_of(rt, PURGE)) == 1


def _failing_purge(fail_on_batch: int) -> JobKind:
    """The real purge handler, made to raise after its work in one batch (injected failure)."""
    calls = {"n": 0}

    async def run(batch: Batch) -> BatchResult:
        result = await job_kinds.PURGE_CONNECTION_LOGS.run_batch(batch)
        calls["n"] += 1
        if calls["n"] == fail_on_batch:
            raise ValueError(f"simulated crash near {FAKE_PERSONAL_TEXT}")
        return result

    return JobKind(
        name="flaky_purge",
        description="test",
        run_batch=run,
        batch_size=2,
        payload_keys=frozenset({"workspace_id"}),
    )


async def test_a_failing_batch_rolls_back_with_its_cursor_and_the_retry_resumes(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="confide.jobs")
    await silence_schedules(rt)
    workspace_id, old, new = await workspace_with_logs(rt, "acme", expired=5, fresh=1)
    monkeypatch.setitem(KINDS, "flaky_purge", _failing_purge(fail_on_batch=2))
    job_id = await do_enqueue_job(rt, "flaky_purge", payload={"workspace_id": str(workspace_id)})
    assert job_id is not None

    await Worker(rt).run(once=True)
    failed = await job(rt, job_id)
    assert (failed.status, failed.attempts, failed.batches_done, failed.items_done) == (
        JobStatus.QUEUED,
        1,
        1,
        2,
    )
    assert failed.last_error_class == "ValueError"
    assert failed.last_error is not None and FAKE_PERSONAL_TEXT not in failed.last_error
    remaining = await log_ids(rt)
    assert len(remaining & old) == 3  # batch 2 deleted two more, then rolled back
    first_cursor = failed.cursor
    assert first_cursor is not None and first_cursor["workspace_id"] == str(workspace_id)

    assert await Worker(rt).run(once=True) == 0  # backing off
    clock.advance(rt.settings.job_retry_backoff_seconds)
    await Worker(rt).run(once=True)
    done = await job(rt, job_id)
    assert (done.status, done.attempts, done.items_done) == (JobStatus.SUCCEEDED, 2, 5)
    assert await log_ids(rt) == new
    # The worker's log names the job and the error class, never the error's text.
    assert f"job {job_id} flaky_purge: attempt 1 failed with ValueError -> queued" in caplog.text
    assert f"job {job_id} flaky_purge: finished" in caplog.text
    assert FAKE_PERSONAL_TEXT not in caplog.text


async def test_a_stopping_worker_finishes_its_batch_and_hands_the_job_back(rt: Runtime) -> None:
    _tuned(rt, job_batch_size=2, job_batch_pause_seconds=0.1)
    await silence_schedules(rt)
    workspace_id, _old, new = await workspace_with_logs(rt, "acme", expired=12, fresh=2)
    job_id = await do_enqueue_job(rt, PURGE, payload={"workspace_id": str(workspace_id)})
    assert job_id is not None

    first = Worker(rt, worker_id="first")
    running = asyncio.create_task(first.run())

    async def two_batches_done() -> bool:
        return (await job(rt, job_id)).batches_done >= 2

    await _wait_for(two_batches_done)
    first.stop()
    await asyncio.wait_for(running, 5)
    handed_back = await job(rt, job_id)
    assert (handed_back.status, handed_back.attempts, handed_back.locked_by) == (
        JobStatus.QUEUED,
        0,
        None,
    )
    committed = handed_back.items_done
    assert committed == 2 * handed_back.batches_done
    assert len(await log_ids(rt)) == 14 - committed  # what was committed, nothing half-done

    await Worker(rt, worker_id="second").run(once=True)
    done = await job(rt, job_id)
    assert (done.status, done.items_done, done.locked_by) == (JobStatus.SUCCEEDED, 12, "second")
    assert await log_ids(rt) == new


async def test_a_worker_that_lost_its_lease_cannot_record_its_batch(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await silence_schedules(rt)
    entered, gate = asyncio.Event(), asyncio.Event()
    calls = {"n": 0}

    async def count_to_three(batch: Batch) -> BatchResult:
        calls["n"] += 1
        if calls["n"] == 1:  # the first worker gets stuck (outside any transaction)
            entered.set()
            await gate.wait()
        done = (batch.cursor or {}).get("n", 0) + 1
        return BatchResult(items=1, cursor={"n": done}, done=done == 3)

    monkeypatch.setitem(
        KINDS,
        "count_to_three",
        JobKind("count_to_three", "test", count_to_three, in_transaction=False),
    )
    job_id = await do_enqueue_job(rt, "count_to_three")
    assert job_id is not None
    stuck = Worker(rt, worker_id="stuck")
    running = asyncio.create_task(stuck.run())
    await asyncio.wait_for(entered.wait(), 5)

    # Its heartbeats stop arriving (a network partition, say): the lease runs out.
    async with rt.db.transaction() as session:
        await session.execute(
            update(Job).values(lease_expires_at=clock.utcnow() - timedelta(seconds=1))
        )
    await Worker(rt, worker_id="other").run(once=True)
    gate.set()  # the stuck worker wakes up and tries to record its batch
    await asyncio.sleep(0.2)
    stuck.stop()
    await asyncio.wait_for(running, 5)

    done = await job(rt, job_id)
    assert (done.status, done.locked_by, done.attempts) == (JobStatus.SUCCEEDED, "other", 2)
    assert (done.items_done, done.batches_done, done.cursor) == (3, 3, {"n": 3})


async def test_in_process_worker_runs_by_default_on_sqlite_only(
    rt: Runtime, settings: Settings
) -> None:
    assert settings.jobs_in_process is rt.db.is_sqlite
    assert Settings(data_dir=settings.data_dir).jobs_in_process is True
    postgres = Settings(database_url="postgresql+asyncpg://confide@db.invalid/confide")
    assert postgres.jobs_in_process is False
    assert postgres.model_copy(update={"run_jobs_in_process": True}).jobs_in_process is True


async def test_server_side_worker_runs_the_schedules_while_the_block_runs(rt: Runtime) -> None:
    _tuned(rt, run_jobs_in_process=True, worker_poll_interval_seconds=0.05)
    _, _old, new = await workspace_with_logs(rt, "acme", expired=4, fresh=1)
    async with background_worker(rt) as worker:
        assert worker is not None

        async def purged() -> bool:
            return await log_ids(rt) == new

        await _wait_for(purged)
    assert worker.stopping
    _tuned(rt, run_jobs_in_process=False)
    async with background_worker(rt) as none:
        assert none is None
