"""Tables of the job system: queued and running jobs, and the recurring schedules.

No personal data: a job's payload and cursor hold ids and timestamps only (checked at enqueue),
and a failure is recorded as an exception class plus a message Confide wrote itself, never an
exception's text (which may quote a row).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id, value_enum


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for run_after, or released by a worker that stopped
    RUNNING = "running"  # leased by locked_by until lease_expires_at
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # out of attempts


FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class Job(Base):
    """One run of a job kind. Claimed by one worker at a time through a lease; each committed
    batch advances ``cursor``, so whoever claims the job next carries on from there."""

    __tablename__ = "jobs"
    __table_args__ = (
        # ix_jobs_due: queued jobs whose run_after has come, oldest first (the claim).
        Index("ix_jobs_due", "status", "run_after"),
        # ix_jobs_lease: running jobs whose lease has expired (a worker died: reclaim).
        Index("ix_jobs_lease", "status", "lease_expires_at"),
        # ix_jobs_finished: finished jobs past job_history_days (prune_finished_jobs).
        Index("ix_jobs_finished", "finished_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[JobStatus] = mapped_column(
        value_enum(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    # The same scheduled run (or any caller-chosen key) is enqueued once, however many
    # workers try: unique, NULL for jobs that need no deduplication.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    items_done: Mapped[int] = mapped_column(Integer, default=0)
    batches_done: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Which worker holds the job ("host:pid:random"); with attempts it identifies one claim.
    locked_by: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_class: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobSchedule(Base):
    """When a recurring job kind is next due. Whichever worker moves ``next_run_at`` forward
    (compare-and-set on the value it read) enqueues that run."""

    __tablename__ = "job_schedules"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
