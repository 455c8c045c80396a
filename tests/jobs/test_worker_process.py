"""Real ``confide worker`` processes on the test database: one is killed with SIGKILL in the
middle of a job and another completes it exactly once; on PostgreSQL two workers drain many
jobs at the same time without running any job or batch twice.

The workers log one line per committed batch (job id, batch number, items); with the job rows
in the database those lines show who did what.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from confide.core.config import Settings
from confide.jobs.models import Job, JobStatus
from confide.jobs.queue import do_enqueue_job
from confide.runtime import Runtime
from tests.jobs.helpers import job, jobs_of, log_ids, silence_schedules, workspace_with_logs

REPO_ROOT = Path(__file__).resolve().parents[2]
PURGE = "purge_connection_logs"
BATCH_LINE = re.compile(r"job (\S+) (\S+): batch (\d+) committed, (\d+) item")
TIMEOUT = 60.0


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def batches(self) -> list[tuple[str, str, int, int]]:
        """(job id, kind, batch number, items) of each batch this worker logged."""
        return [(m[1], m[2], int(m[3]), int(m[4])) for m in BATCH_LINE.finditer(self.log())]


def worker_env(settings: Settings, database_url: str, **tuning: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIDE_")}
    env.update(
        {
            "CONFIDE_DATA_DIR": str(settings.data_dir),  # same instance secret and keys
            "CONFIDE_DATABASE_URL": database_url,
            "CONFIDE_LOG_LEVEL": "INFO",
            "CONFIDE_WORKER_POLL_INTERVAL_SECONDS": "0.1",
        }
    )
    env.update({f"CONFIDE_{k.upper()}": v for k, v in tuning.items()})
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(name: str, env: dict[str, str], *args: str) -> WorkerProcess:
        log_path = tmp_path / f"worker-{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "confide", "worker", *args],
                env=env,
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(WorkerProcess(name, process, log_path))
        return started[-1]

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(10)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, workers: list[WorkerProcess]
) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if await condition():
            return
        for worker in workers:
            if worker.process.poll() is not None:
                pytest.fail(f"worker {worker.name} exited early:\n{worker.log()[-3000:]}")
        await asyncio.sleep(0.05)
    logs = "\n".join(f"--- {w.name}\n{w.log()[-3000:]}" for w in workers)
    pytest.fail(f"timed out waiting for {what}\n{logs}")


async def stop(worker: WorkerProcess) -> int:
    worker.process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(worker.process.wait, 30)


async def test_killed_worker_mid_job_and_another_completes_it_exactly_once(
    rt: Runtime,
    settings: Settings,
    database_url: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    _, acme_old, acme_new = await workspace_with_logs(rt, "acme", expired=24, fresh=3)
    _, globex_old, globex_new = await workspace_with_logs(rt, "globex", expired=12, fresh=2)
    expired, fresh = acme_old | globex_old, acme_new | globex_new
    env = worker_env(
        settings,
        database_url,
        job_batch_size="4",
        job_batch_pause_seconds="0.3",  # inside the batch's transaction: a kill lands mid-batch
        job_lease_seconds="3",
    )

    # Worker A enqueues the daily purge itself (first run of the schedule) and starts on it.
    first = start_worker("a", env)

    async def purge_job() -> Job | None:
        found = await jobs_of(rt, PURGE)
        return found[0] if found else None

    async def a_few_batches_done() -> bool:
        current = await purge_job()
        return current is not None and current.batches_done >= 3

    await wait_until(a_few_batches_done, "worker A to commit three batches", [first])
    first.process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(first.process.wait, 10)

    at_kill = await purge_job()
    assert at_kill is not None
    assert (at_kill.status, at_kill.attempts) == (JobStatus.RUNNING, 1)
    assert at_kill.locked_by is not None and f":{first.process.pid}:" in at_kill.locked_by
    assert at_kill.lease_expires_at is not None
    killed_lease_end = at_kill.lease_expires_at
    # The batch A was in rolled back: what is gone is exactly what its cursor says is done.
    assert len(expired - await log_ids(rt)) == at_kill.items_done
    assert at_kill.items_done == 4 * at_kill.batches_done
    assert at_kill.cursor is not None

    # Worker B: finds the job leased, waits for the lease to run out, takes it over.
    second = start_worker("b", env)

    async def purge_finished() -> bool:
        current = await purge_job()
        return current is not None and current.status is JobStatus.SUCCEEDED

    await wait_until(purge_finished, "worker B to finish the purge", [second])
    assert await stop(second) == 0  # SIGTERM: a graceful exit

    done = await purge_job()
    assert done is not None
    assert await log_ids(rt) == fresh  # every expired log deleted, no fresh one touched
    assert (done.items_done, done.attempts, done.cursor) == (len(expired), 2, None)
    assert done.locked_by is not None and f":{second.process.pid}:" in done.locked_by
    assert done.finished_at is not None and done.finished_at > killed_lease_end
    assert len(await jobs_of(rt, PURGE)) == 1  # B did not enqueue the daily run again

    job_id = str(done.id)
    assert f"reclaimed from {at_kill.locked_by} (lease expired)" in second.log()
    assert f"resuming after batch {at_kill.batches_done}" in second.log()
    a_batches = [(n, items) for j, _, n, items in first.batches() if j == job_id]
    b_batches = [(n, items) for j, _, n, items in second.batches() if j == job_id]
    # B carried on right after the last batch A committed, and nothing was done twice.
    assert b_batches[0][0] == at_kill.batches_done + 1
    assert b_batches[-1][0] == done.batches_done
    numbers = [n for n, _ in a_batches + b_batches]
    assert len(numbers) == len(set(numbers))
    assert at_kill.items_done + sum(items for _, items in b_batches) == len(expired)
    assert f"job {job_id} {PURGE}: finished" in second.log()
    assert f"job {job_id} {PURGE}: finished" not in first.log()


@pytest.mark.postgres
async def test_two_workers_drain_many_jobs_without_running_a_job_or_batch_twice(
    rt: Runtime,
    settings: Settings,
    database_url: str,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    await silence_schedules(rt)
    per_workspace, jobs_count = 10, 10
    expected: dict[uuid.UUID, uuid.UUID] = {}  # workspace -> job
    all_old: set[uuid.UUID] = set()
    all_new: set[uuid.UUID] = set()
    for i in range(jobs_count):
        workspace_id, old, new = await workspace_with_logs(
            rt, f"shop-{i}", expired=per_workspace, fresh=1
        )
        all_old |= old
        all_new |= new
        expected[workspace_id] = uuid.uuid4()
    env = worker_env(
        settings,
        database_url,
        job_batch_size="3",
        job_batch_pause_seconds="0.05",
        job_lease_seconds="10",
    )
    workers = [start_worker(name, env, "--concurrency", "2") for name in ("a", "b")]

    async def both_started() -> bool:
        return all("started (2 slot(s))" in w.log() for w in workers)

    await wait_until(both_started, "both workers to start", workers)
    for workspace_id in list(expected):
        job_id = await do_enqueue_job(rt, PURGE, payload={"workspace_id": str(workspace_id)})
        assert job_id is not None
        expected[workspace_id] = job_id

    async def all_done() -> bool:
        async with rt.db.session() as session:
            statuses = (await session.scalars(select(Job.status).where(Job.kind == PURGE))).all()
        return len(statuses) == jobs_count and set(statuses) == {JobStatus.SUCCEEDED}

    await wait_until(all_done, "the workers to drain the queue", workers)
    assert [await stop(w) for w in workers] == [0, 0]

    assert await log_ids(rt) == all_new
    batches_per_job = per_workspace // 3 + 1  # three full, one short (the last item)
    for job_id in expected.values():
        row = await job(rt, job_id)
        assert (row.attempts, row.items_done, row.batches_done) == (1, 10, batches_per_job)
    logged = {w.name: [b for b in w.batches() if b[1] == PURGE] for w in workers}
    seen = Counter(
        (job_id, number) for batches in logged.values() for job_id, _, number, _ in batches
    )
    assert set(seen) == {
        (str(job_id), n) for job_id in expected.values() for n in range(1, batches_per_job + 1)
    }
    assert set(seen.values()) == {1}  # no batch committed twice
    owners = {
        job_id: {name for name, batches in logged.items() for j, _, _, _ in batches if j == job_id}
        for job_id in map(str, expected.values())
    }
    assert all(len(names) == 1 for names in owners.values())  # one worker per job
    assert {name for names in owners.values() for name in names} == {"a", "b"}  # both worked
