"""Job test helpers: connection logs to purge, job rows to read, schedules to silence."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from confide.access.workspaces import do_create_workspace
from confide.core.clock import utcnow
from confide.jobs.models import Job, JobSchedule
from confide.jobs.queue import sync_schedules
from confide.privacy.models import ConnectionLog
from confide.runtime import Runtime

EXPIRED_AGE = timedelta(days=400)  # past the default retention of a year (365 days)
FRESH_AGE = timedelta(hours=1)


async def workspace_with_logs(
    rt: Runtime, slug: str, *, expired: int, fresh: int
) -> tuple[uuid.UUID, set[uuid.UUID], set[uuid.UUID]]:
    """A workspace with ``expired`` logs past its retention and ``fresh`` ones within it.
    Returns the workspace id and the ids of both sets."""
    workspace = await do_create_workspace(rt, slug=slug, name=slug.title())
    now = utcnow()
    old_ids: set[uuid.UUID] = set()
    new_ids: set[uuid.UUID] = set()
    async with rt.db.transaction() as session:
        for i in range(expired + fresh):
            log_id = uuid.uuid4()
            is_old = i < expired
            age = EXPIRED_AGE if is_old else FRESH_AGE
            session.add(
                ConnectionLog(
                    id=log_id,
                    workspace_id=workspace.id,
                    kind="visitor_created",
                    created_at=now - age - timedelta(seconds=i),
                )
            )
            (old_ids if is_old else new_ids).add(log_id)
    return workspace.id, old_ids, new_ids


async def log_ids(rt: Runtime) -> set[uuid.UUID]:
    async with rt.db.session() as session:
        return set((await session.scalars(select(ConnectionLog.id))).all())


async def jobs_of(rt: Runtime, kind: str | None = None) -> list[Job]:
    query = select(Job).order_by(Job.created_at)
    if kind is not None:
        query = query.where(Job.kind == kind)
    async with rt.db.session() as session:
        return list((await session.scalars(query)).all())


async def job(rt: Runtime, job_id: uuid.UUID) -> Job:
    async with rt.db.session() as session:
        found = await session.get(Job, job_id, populate_existing=True)
    assert found is not None
    return found


async def silence_schedules(rt: Runtime) -> None:
    """As if every recurring job had just run: nothing scheduled is due for a day."""
    await sync_schedules(rt)
    async with rt.db.transaction() as session:
        await session.execute(update(JobSchedule).values(next_run_at=utcnow() + timedelta(days=1)))
