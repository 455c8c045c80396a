"""The ``retention`` job (daily) and the ``retention_alert`` job (hourly), registered with
``confide.jobs``.

``retention`` runs one :func:`confide.privacy.retention.run.run_batch` per job batch, inside
the batch's transaction: the work, the run's counts and cursor and the job's own cursor commit
together, so a worker killed mid-batch loses that batch whole and the worker that reclaims the
job (its lease expired) continues from the same place. The job queue leases a job to one
worker at a time (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL), and each batch also
takes its conversations with ``SKIP LOCKED``, so a concurrent ``confide retention run`` never
handles the same conversations either.
"""

from __future__ import annotations

import uuid

from confide.core.clock import utcnow
from confide.jobs.kinds import DAY_SECONDS, Batch, BatchResult, JobKind, register
from confide.privacy.retention.alerts import do_check_overdue
from confide.privacy.retention.run import BATCH_SIZE, run_batch, start_run

HOUR_SECONDS = 3600


async def _run_retention(batch: Batch) -> BatchResult:
    tx = batch.session
    if batch.cursor is None or "run" not in batch.cursor:
        run = await start_run(batch.rt, tx, utcnow())
        return BatchResult(items=0, cursor={"run": str(run.id)}, done=False)
    run_id = uuid.UUID(batch.cursor["run"])
    items, done = await run_batch(batch.rt, tx, run_id, batch_size=batch.size)
    if done:
        tx.on_commit(do_check_overdue, batch.rt)
    return BatchResult(items=items, cursor=batch.cursor, done=done)


async def _run_retention_alert(batch: Batch) -> BatchResult:
    overdue = await do_check_overdue(batch.rt)
    return BatchResult(items=len(overdue), cursor=None, done=True)


RETENTION = register(
    JobKind(
        name="retention",
        description="Archive, then destroy conversations past their retention; keep statistics.",
        run_batch=_run_retention,
        every_seconds=DAY_SECONDS,
        batch_size=BATCH_SIZE,
    )
)
RETENTION_ALERT = register(
    JobKind(
        name="retention_alert",
        description="Mail admins when retention is overdue by more than a day.",
        run_batch=_run_retention_alert,
        every_seconds=HOUR_SECONDS,
        batch_size=1,
        in_transaction=False,
    )
)
