"""Background jobs, coordinated through the database.

    jobs.kinds     what can run: one handler per kind (a bounded batch) and its schedule
    jobs.queue     enqueue (deduplicated), claim with a lease, heartbeat, release, fail
    jobs.worker    the loop ``confide worker`` runs (and ``confide serve`` on SQLite)
    jobs.models    the ``jobs`` and ``job_schedules`` tables

Guarantees, on SQLite and on any number of workers sharing PostgreSQL: a job is held by one
worker at a time (a lease, renewed by a heartbeat, taken with ``FOR UPDATE SKIP LOCKED``); each
batch commits its work and the job's cursor in one transaction, after checking the lease is
still this worker's, so a killed worker's half-done batch rolls back and the next claimer
resumes from the cursor: every item is processed once. A failed attempt is retried with
exponential backoff up to the kind's ``max_attempts``. A recurring run is enqueued once, by
whichever worker moves the schedule first, under a unique dedupe key.
"""

from __future__ import annotations

from confide.jobs.kinds import KINDS, Batch, BatchResult, JobKind
from confide.jobs.models import Job, JobSchedule, JobStatus
from confide.jobs.queue import (
    claim_next_job,
    do_enqueue_job,
    enqueue_due_schedules,
    list_jobs,
    sync_schedules,
)
from confide.jobs.worker import Worker, background_worker

__all__ = [
    "KINDS",
    "Batch",
    "BatchResult",
    "Job",
    "JobKind",
    "JobSchedule",
    "JobStatus",
    "Worker",
    "background_worker",
    "claim_next_job",
    "do_enqueue_job",
    "enqueue_due_schedules",
    "list_jobs",
    "sync_schedules",
]
