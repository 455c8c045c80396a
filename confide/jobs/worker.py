"""The worker loop: enqueue due schedules, claim a job, run its batches, repeat.

``confide worker`` runs one :class:`Worker` per process (``--concurrency`` slots, each running
one job at a time); with SQLite, ``confide serve`` runs one inside the server
(:func:`background_worker`). Stopping is graceful: a slot finishes the batch it is in, then
gives its job back (:func:`confide.jobs.queue.release`) for another worker to resume from the
cursor. A killed worker gives nothing back; its lease expires and the job is reclaimed.

Log lines name jobs by id and kind and count items: never a payload value or personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from confide.core.clock import utcnow
from confide.core.errors import LeaseLost
from confide.jobs.kinds import KINDS, Batch, BatchResult, JobKind
from confide.jobs.models import JobStatus
from confide.jobs.queue import (
    Claim,
    claim_next_job,
    enqueue_due_schedules,
    heartbeat,
    held_job,
    record_failure,
    release,
    sync_schedules,
)

if TYPE_CHECKING:
    from confide.runtime import Runtime

log = logging.getLogger("confide.jobs")


@dataclass(frozen=True)
class BatchDone:
    number: int
    items: int
    done: bool


def new_worker_id() -> str:
    """``host:pid:random``: which machine and process to look at, unique per run."""
    host = socket.gethostname()[:40]
    return f"{host}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(self, rt: Runtime, *, concurrency: int = 1, worker_id: str | None = None) -> None:
        self.rt = rt
        self.id = worker_id or new_worker_id()
        self.concurrency = max(1, concurrency)
        self.jobs_run = 0
        self._stopping = asyncio.Event()
        self._schedules_synced = False

    def stop(self) -> None:
        """Finish the current batches, give the jobs back, then return from :meth:`run`."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self, *, once: bool = False) -> int:
        """Run until :meth:`stop` (or, with ``once``, until no job is due). Returns how many
        jobs this worker ran."""
        log.info("worker %s started (%d slot(s))", self.id, self.concurrency)
        await asyncio.gather(*(self._slot(once) for _ in range(self.concurrency)))
        log.info("worker %s stopped after %d job(s)", self.id, self.jobs_run)
        return self.jobs_run

    async def _slot(self, once: bool) -> None:
        while not self.stopping:
            try:
                if not self._schedules_synced:
                    await sync_schedules(self.rt)
                    self._schedules_synced = True
                await enqueue_due_schedules(self.rt)
                claim = await claim_next_job(self.rt, self.id, list(KINDS))
            except Exception as exc:  # the database is away: try again later
                log.error("worker %s: cannot claim jobs (%s)", self.id, type(exc).__name__)
                if once:
                    raise
                await self._idle()
                continue
            if claim is None:
                if once:
                    return
                await self._idle()
                continue
            self.jobs_run += 1
            try:
                await self._run(claim, KINDS[claim.kind])
            except Exception as exc:  # could not even record the outcome: the lease expires
                log.error("job %s: left to its lease (%s)", claim.job_id, type(exc).__name__)
                if once:
                    raise
                await self._idle()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._stopping.wait(), self.rt.settings.worker_poll_interval_seconds
            )

    async def _run(self, claim: Claim, kind: JobKind) -> None:
        started = (
            f"reclaimed from {claim.reclaimed_from} (lease expired)"
            if claim.reclaimed_from
            else "started"
        )
        resume = f", resuming after batch {claim.batches_done}" if claim.batches_done else ""
        log.info(
            "job %s %s %s: attempt %d/%d%s",
            claim.job_id,
            kind.name,
            started,
            claim.attempt,
            claim.max_attempts,
            resume,
        )
        lost = asyncio.Event()
        beating = asyncio.create_task(self._heartbeat(claim, lost))
        try:
            while True:
                if lost.is_set():
                    raise LeaseLost()
                if self.stopping:
                    released = await release(self.rt, claim)
                    log.info("job %s %s: released (%s)", claim.job_id, kind.name, released)
                    return
                batch = await self._batch(claim, kind)
                log.info(
                    "job %s %s: batch %d committed, %d item(s)",
                    claim.job_id,
                    kind.name,
                    batch.number,
                    batch.items,
                )
                if batch.done:
                    log.info("job %s %s: finished", claim.job_id, kind.name)
                    return
        except LeaseLost:
            log.warning("job %s %s: lease lost to another worker", claim.job_id, kind.name)
        except Exception as exc:
            job = await record_failure(self.rt, claim, exc)
            state = job.status.value if job is not None else "lease lost"
            log.warning(
                "job %s %s: attempt %d failed with %s -> %s",
                claim.job_id,
                kind.name,
                claim.attempt,
                type(exc).__name__,
                state,
            )
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _batch(self, claim: Claim, kind: JobKind) -> BatchDone:
        """One batch. For a transactional kind, the work, the cursor and the progress commit
        together, after checking that this claim still holds the job."""
        rt = self.rt
        size = rt.settings.job_batch_size or kind.batch_size
        pause = rt.settings.job_batch_pause_seconds
        result: BatchResult | None = None
        if not kind.in_transaction:
            async with rt.db.session() as session:
                job = await held_job(session, claim)
                if job is None:
                    raise LeaseLost()
                cursor = job.cursor
            result = await kind.run_batch(Batch(rt, claim.job_id, claim.payload, cursor, size))
        async with rt.db.transaction() as session:
            job = await held_job(session, claim)
            if job is None:
                raise LeaseLost()
            if result is None:
                batch = Batch(rt, claim.job_id, claim.payload, job.cursor, size, session)
                result = await kind.run_batch(batch)
            if pause:
                await asyncio.sleep(pause)
            now = utcnow()
            job.cursor = result.cursor
            job.items_done += result.items
            job.batches_done += 1
            job.heartbeat_at = now
            job.lease_expires_at = now + _lease(rt)
            if result.done:
                job.status = JobStatus.SUCCEEDED
                job.finished_at = now
                job.lease_expires_at = None
            return BatchDone(job.batches_done, result.items, result.done)

    async def _heartbeat(self, claim: Claim, lost: asyncio.Event) -> None:
        interval = self.rt.settings.job_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await heartbeat(self.rt, claim):
                    lost.set()
                    return
            except Exception as exc:  # a missed beat is not fatal; the lease has slack
                log.warning("job %s: heartbeat failed (%s)", claim.job_id, type(exc).__name__)


def _lease(rt: Runtime) -> timedelta:
    return timedelta(seconds=rt.settings.job_lease_seconds)


@asynccontextmanager
async def background_worker(rt: Runtime) -> AsyncIterator[Worker | None]:
    """Run a worker alongside the server while the block runs, if the settings say so (SQLite:
    yes by default; PostgreSQL: separate ``confide worker`` processes)."""
    if not rt.settings.jobs_in_process:
        yield None
        return
    worker = Worker(rt)
    task = asyncio.create_task(worker.run(), name="confide-jobs")
    try:
        yield worker
    finally:
        worker.stop()
        try:
            await task
        except Exception as exc:
            log.error("in-process worker ended with %s", type(exc).__name__)
