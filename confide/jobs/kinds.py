"""The kinds of job a worker runs: one handler per kind, plus its schedule.

A handler processes one bounded batch and says where the next one starts (``BatchResult``).
For the usual, transactional kind it runs inside the batch's transaction (``batch.session``),
the same transaction that stores the job's cursor: a crash mid-batch rolls back the work and
the cursor together, and whoever claims the job next starts that batch again from the last
committed cursor, so every item is processed exactly once. A kind whose items do I/O outside
the database (an HTTP POST) sets ``in_transaction=False``: it runs between transactions and
must claim each item itself (channel deliveries lease their own rows).

To add a kind (retention, export, backup, digest): write ``async def _run_x(batch) ->
BatchResult``, describe it with a :class:`JobKind` (``every_seconds`` for a recurring one,
``payload_keys`` for what it may be given: ids only, never personal data) and add it to
:data:`KINDS`. Workers only claim kinds they know, so a rolling upgrade is safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from confide.chat.channels.outbound import deliver_due
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.jobs.models import FINISHED, Job
from confide.privacy.connections import PURGE_BATCH_SIZE, purge_connection_logs_batch

if TYPE_CHECKING:
    from confide.runtime import Runtime

PayloadValue = str | int | bool | None
DAY_SECONDS = 86_400


@dataclass
class Batch:
    """What a handler gets: the job's payload, its cursor (``None`` on the first batch) and
    how many items to process at most."""

    rt: Runtime
    job_id: uuid.UUID
    payload: Mapping[str, PayloadValue]
    cursor: dict[str, Any] | None
    size: int
    _session: UnitOfWork | None = None

    @property
    def session(self) -> UnitOfWork:
        """The batch's unit of work (transactional kinds only): its writes, the job's progress
        and its ``on_commit`` work (events, deliveries) commit together."""
        if self._session is None:
            raise RuntimeError("This job kind runs outside a transaction: it has no session.")
        return self._session


@dataclass(frozen=True)
class BatchResult:
    items: int  # processed in this batch, for the progress counter and the log
    cursor: dict[str, Any] | None  # where the next batch starts; ids and timestamps only
    done: bool


BatchHandler = Callable[[Batch], Awaitable[BatchResult]]


@dataclass(frozen=True)
class JobKind:
    name: str
    description: str
    run_batch: BatchHandler
    every_seconds: int | None = None  # recurring: enqueued by whichever worker gets there first
    batch_size: int = 500
    max_attempts: int = 5
    payload_keys: frozenset[str] = field(default_factory=frozenset)
    in_transaction: bool = True


async def _run_purge_connection_logs(batch: Batch) -> BatchResult:
    scope = batch.payload.get("workspace_id")
    cursor, deleted = await purge_connection_logs_batch(
        batch.rt,
        batch.session,
        batch.cursor,
        batch_size=batch.size,
        workspace_id=uuid.UUID(str(scope)) if scope else None,
    )
    return BatchResult(items=deleted, cursor=cursor, done=cursor is None)


async def _run_deliver_due_channel_replies(batch: Batch) -> BatchResult:
    # Each attempt claims its delivery row (next_attempt_at is its lease), so two runs of this
    # job at once, or a background attempt racing it, never send the same reply twice.
    made = await deliver_due(batch.rt, limit=batch.size)
    return BatchResult(items=made, cursor=None, done=made < batch.size)


async def _run_prune_finished_jobs(batch: Batch) -> BatchResult:
    cutoff = utcnow() - timedelta(days=batch.rt.settings.job_history_days)
    session = batch.session
    # ix_jobs_finished
    ids = list(
        (
            await session.scalars(
                select(Job.id)
                .where(Job.finished_at < cutoff, Job.status.in_(FINISHED))
                .order_by(Job.finished_at)
                .limit(batch.size)
            )
        ).all()
    )
    if ids:
        await session.execute(delete(Job).where(Job.id.in_(ids)))
    return BatchResult(items=len(ids), cursor=None, done=len(ids) < batch.size)


PURGE_CONNECTION_LOGS = JobKind(
    name="purge_connection_logs",
    description="Delete connection logs older than their workspace's retention.",
    run_batch=_run_purge_connection_logs,
    every_seconds=DAY_SECONDS,
    batch_size=PURGE_BATCH_SIZE,
    payload_keys=frozenset({"workspace_id"}),  # optional: one workspace only
)
DELIVER_DUE_CHANNEL_REPLIES = JobKind(
    name="deliver_due_channel_replies",
    description="Retry social/SMS replies left pending (a restart, a failed attempt).",
    run_batch=_run_deliver_due_channel_replies,
    every_seconds=60,
    batch_size=50,
    max_attempts=3,
    in_transaction=False,
)
PRUNE_FINISHED_JOBS = JobKind(
    name="prune_finished_jobs",
    description="Delete finished jobs older than job_history_days.",
    run_batch=_run_prune_finished_jobs,
    every_seconds=DAY_SECONDS,
    batch_size=1000,
)


KINDS: dict[str, JobKind] = {
    kind.name: kind
    for kind in (
        PURGE_CONNECTION_LOGS,
        DELIVER_DUE_CHANNEL_REPLIES,
        PRUNE_FINISHED_JOBS,
    )
}


def register(kind: JobKind) -> JobKind:
    """Add a kind that a domain module defines beside its own code (``chat.offline``'s
    reply e-mails), so ``jobs`` never imports the modules it runs work for. Returns it.
    Raises ``ValueError`` if another kind already has the name."""
    if KINDS.get(kind.name, kind) is not kind:
        raise ValueError(f"Two job kinds are named {kind.name!r}.")
    KINDS[kind.name] = kind
    return kind
