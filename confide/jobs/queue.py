"""Enqueue, claim and settle jobs; enqueue due schedules. Every step is one transaction.

Claiming takes the oldest claimable job (queued and due, or running with an expired lease: its
worker died) under ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers
each get a different row without waiting on each other; on SQLite the claim runs in a
``BEGIN IMMEDIATE`` transaction (``Database.transaction``), which serialises writers across
processes. A claim is identified by ``(locked_by, attempts)``: every later write of the worker
(batch, heartbeat, release, failure) first checks that the row still carries both, so a worker
whose lease was taken over can no longer change the job (fencing).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import ConfideError, NotFound, ValidationFailed
from confide.jobs.kinds import KINDS, JobKind, PayloadValue
from confide.jobs.models import Job, JobSchedule, JobStatus

if TYPE_CHECKING:
    from confide.runtime import Runtime

PAYLOAD_VALUE_MAX_CHARS = 64  # room for an id, not for a sentence about someone
ERROR_MAX_CHARS = 300
BACKOFF_CAP_SECONDS = 3600.0
_CLAIM_SCAN_LIMIT = 20  # exhausted jobs marked failed in one claim before giving up


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one job, as read when it was claimed."""

    job_id: uuid.UUID
    kind: str
    worker_id: str
    attempt: int
    max_attempts: int
    payload: dict[str, PayloadValue]
    batches_done: int
    reclaimed_from: str | None  # the worker whose lease had expired, if any


def kind_named(name: str) -> JobKind:
    kind = KINDS.get(name)
    if kind is None:
        raise NotFound(f"No job kind {name!r}; known: {', '.join(sorted(KINDS))}.", field="kind")
    return kind


def _check_payload(kind: JobKind, payload: Mapping[str, Any]) -> dict[str, PayloadValue]:
    """Ids only: keys the kind declares, short scalar values. Personal data has no place in a
    job row (it is not encrypted, and jobs are listed to operators of the platform)."""
    checked: dict[str, PayloadValue] = {}
    for key, value in payload.items():
        if key not in kind.payload_keys:
            raise ValidationFailed(f"Job kind {kind.name!r} takes no {key!r}.", field="payload")
        if value is not None and not isinstance(value, str | int | bool):
            raise ValidationFailed("Job payload values are ids: strings or numbers.", field=key)
        if isinstance(value, str) and len(value) > PAYLOAD_VALUE_MAX_CHARS:
            raise ValidationFailed("Job payload values are ids: too long.", field=key)
        checked[key] = value
    return checked


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def enqueue_in(
    session: AsyncSession,
    kind_name: str,
    *,
    payload: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
) -> uuid.UUID | None:
    """Queue a job inside the caller's transaction. Returns its id, or ``None`` if a job with
    ``dedupe_key`` exists already (whatever its state)."""
    kind = kind_named(kind_name)
    now = utcnow()
    statement = (
        _insert(session)(Job)
        .values(
            id=new_id(),
            kind=kind.name,
            status=JobStatus.QUEUED,
            dedupe_key=dedupe_key,
            payload=_check_payload(kind, payload or {}),
            items_done=0,
            batches_done=0,
            attempts=0,
            max_attempts=kind.max_attempts,
            run_after=run_after or now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Job.id)
    )
    job_id: uuid.UUID | None = (await session.execute(statement)).scalar_one_or_none()
    return job_id


async def do_enqueue_job(
    rt: Runtime,
    kind_name: str,
    *,
    payload: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
    run_after: datetime | None = None,
) -> uuid.UUID | None:
    async with rt.db.transaction() as session:
        return await enqueue_in(
            session, kind_name, payload=payload, dedupe_key=dedupe_key, run_after=run_after
        )


async def claim_next_job(rt: Runtime, worker_id: str, kinds: Collection[str]) -> Claim | None:
    """Lease the next claimable job of ``kinds`` to ``worker_id``, or ``None``."""
    lease = timedelta(seconds=rt.settings.job_lease_seconds)
    async with rt.db.transaction() as session:
        for _ in range(_CLAIM_SCAN_LIMIT):
            now = utcnow()
            # ix_jobs_lease: first the jobs of dead workers, then ix_jobs_due: queued ones.
            job = await session.scalar(
                select(Job)
                .where(
                    Job.status == JobStatus.RUNNING,
                    Job.lease_expires_at < now,
                    Job.kind.in_(kinds),
                )
                .order_by(Job.lease_expires_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                job = await session.scalar(
                    select(Job)
                    .where(
                        Job.status == JobStatus.QUEUED, Job.run_after <= now, Job.kind.in_(kinds)
                    )
                    .order_by(Job.run_after)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            if job is None:
                return None
            reclaimed_from = job.locked_by if job.status is JobStatus.RUNNING else None
            if reclaimed_from is not None and job.attempts >= job.max_attempts:
                # Its worker died on the last allowed attempt (perhaps because of the job).
                _settle_failed(job, now, "LeaseExpired", "The worker stopped answering.")
                continue
            job.status = JobStatus.RUNNING
            job.attempts += 1
            job.locked_by = worker_id
            job.lease_expires_at = now + lease
            job.heartbeat_at = now
            job.started_at = job.started_at or now
            return Claim(
                job_id=job.id,
                kind=job.kind,
                worker_id=worker_id,
                attempt=job.attempts,
                max_attempts=job.max_attempts,
                payload=dict(job.payload),
                batches_done=job.batches_done,
                reclaimed_from=reclaimed_from,
            )
    return None


async def held_job(session: AsyncSession, claim: Claim) -> Job | None:
    """The job row, locked, if ``claim`` still holds it; ``None`` if its lease was taken over."""
    job = await session.get(Job, claim.job_id, with_for_update=True, populate_existing=True)
    if (
        job is None
        or job.status is not JobStatus.RUNNING
        or job.locked_by != claim.worker_id
        or job.attempts != claim.attempt
    ):
        return None
    return job


async def heartbeat(rt: Runtime, claim: Claim) -> bool:
    """Extend the lease; ``False`` if the job is no longer this claim's."""
    now = utcnow()
    async with rt.db.transaction() as session:
        result = await session.execute(
            update(Job)
            .where(
                Job.id == claim.job_id,
                Job.status == JobStatus.RUNNING,
                Job.locked_by == claim.worker_id,
                Job.attempts == claim.attempt,
            )
            .values(
                lease_expires_at=now + timedelta(seconds=rt.settings.job_lease_seconds),
                heartbeat_at=now,
            )
        )
    return bool(getattr(result, "rowcount", 0))


async def release(rt: Runtime, claim: Claim) -> bool:
    """Give the job back (the worker is stopping): queued again, the attempt not counted."""
    async with rt.db.transaction() as session:
        job = await held_job(session, claim)
        if job is None:
            return False
        job.status = JobStatus.QUEUED
        job.attempts -= 1
        job.locked_by = None
        job.lease_expires_at = None
        job.run_after = utcnow()
    return True


def safe_error_message(exc: BaseException) -> str:
    """Confide's own errors have messages written to be shown (no personal data); any other
    exception's text may quote a row, so only its class is kept."""
    if isinstance(exc, ConfideError):
        return exc.message[:ERROR_MAX_CHARS]
    return "Unexpected error; its message is not stored because it may contain personal data."


def retry_delay_seconds(base_seconds: float, attempt: int) -> float:
    return float(min(base_seconds * 2 ** max(0, attempt - 1), BACKOFF_CAP_SECONDS))


async def record_failure(rt: Runtime, claim: Claim, exc: BaseException) -> Job | None:
    """Record the failed attempt: queued again after a backoff, or failed when out of attempts.
    The batches committed before it stay done. ``None`` if the claim had lost the job."""
    async with rt.db.transaction() as session:
        job = await held_job(session, claim)
        if job is None:
            return None
        now = utcnow()
        error_class = type(exc).__name__[:64]
        if job.attempts >= job.max_attempts:
            _settle_failed(job, now, error_class, safe_error_message(exc))
        else:
            job.status = JobStatus.QUEUED
            job.last_error_class = error_class
            job.last_error = safe_error_message(exc)
            job.locked_by = None
            job.lease_expires_at = None
            delay = retry_delay_seconds(rt.settings.job_retry_backoff_seconds, job.attempts)
            job.run_after = now + timedelta(seconds=delay)
        return job


def _settle_failed(job: Job, now: datetime, error_class: str, message: str) -> None:
    job.status = JobStatus.FAILED
    job.last_error_class = error_class
    job.last_error = message[:ERROR_MAX_CHARS]
    job.lease_expires_at = None
    job.finished_at = now


# -- schedules ------------------------------------------------------------------------------


async def sync_schedules(rt: Runtime) -> None:
    """Create the schedule row of each recurring kind that has none (first run: now)."""
    now = utcnow()
    async with rt.db.transaction() as session:
        for kind in KINDS.values():
            if kind.every_seconds is None:
                continue
            await session.execute(
                _insert(session)(JobSchedule)
                .values(kind=kind.name, next_run_at=now)
                .on_conflict_do_nothing(index_elements=["kind"])
            )


def dedupe_key_for(kind: str, scheduled_for: datetime) -> str:
    return f"{kind}@{scheduled_for.isoformat()}"


async def enqueue_due_schedules(rt: Runtime) -> list[uuid.UUID]:
    """Enqueue each recurring kind whose time has come, once, whichever worker gets there first:
    moving ``next_run_at`` is a compare-and-set on the value read, and the job's dedupe key is
    the scheduled time."""
    now = utcnow()
    async with rt.db.session() as session:
        due = (
            await session.execute(
                select(JobSchedule.kind, JobSchedule.next_run_at).where(
                    JobSchedule.next_run_at <= now, JobSchedule.kind.in_(list(KINDS))
                )
            )
        ).all()
    enqueued = []
    for name, seen in due:
        every = KINDS[name].every_seconds
        if every is None:
            continue
        periods = int((now - seen).total_seconds() // every) + 1  # skip runs missed while down
        async with rt.db.transaction() as session:
            moved = await session.execute(
                update(JobSchedule)
                .where(JobSchedule.kind == name, JobSchedule.next_run_at == seen)
                .values(next_run_at=seen + timedelta(seconds=every * periods), last_enqueued_at=now)
            )
            if not getattr(moved, "rowcount", 0):
                continue  # another worker enqueued this run
            job_id = await enqueue_in(session, name, dedupe_key=dedupe_key_for(name, seen))
        if job_id is not None:
            enqueued.append(job_id)
    return enqueued


async def list_jobs(
    rt: Runtime,
    *,
    status: JobStatus | None = None,
    limit: int = 50,
    include_finished_recurring: bool = True,
) -> list[Job]:
    """Newest first, at most ``limit`` (1-1000). Without ``include_finished_recurring`` the
    succeeded runs that a schedule enqueued (one a minute for some kinds) are left out, so
    what needs attention is not buried; manual runs and failures are always listed."""
    query = select(Job).order_by(Job.created_at.desc()).limit(max(1, min(limit, 1000)))
    if status is not None:
        query = query.where(Job.status == status)
    if not include_finished_recurring:
        recurring = [name for name, kind in KINDS.items() if kind.every_seconds]
        scheduled_done = and_(
            Job.kind.in_(recurring),
            Job.dedupe_key.is_not(None),
            Job.status == JobStatus.SUCCEEDED,
        )
        query = query.where(not_(scheduled_done))
    async with rt.db.session() as session:
        return list((await session.scalars(query)).all())
