"""The daily digest of data-subject requests, mailed to each workspace's admins.

One mail per admin per workspace with open cases: how many are open, which are overdue (past
the legal due date, Art. 12(3)) or past the workspace's own target, and when the next ones fall
due. It names cases by id, kind and dates only, never the person. The ``dsr_digest`` job runs
daily, one workspace per step of its cursor (transactional: the mails are queued to the outbox
in the same unit as the job's progress, so a crash never mails a workspace twice).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from confide.access.models import Workspace
from confide.core.clock import utcnow
from confide.core.mail import Mail, mail_enabled
from confide.jobs.kinds import DAY_SECONDS, Batch, BatchResult, JobKind, register
from confide.privacy.outbox import queue_mail
from confide.privacy.requests.acts import admin_addresses
from confide.privacy.requests.models import DsrCase
from confide.privacy.requests.views import urgency_order, view

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from confide.runtime import Runtime

DIGEST_LIST_LIMIT = 50


async def digest_text(session: AsyncSession, workspace: Workspace) -> str | None:
    """The digest of one workspace, or None when it has no open case."""
    rows = (
        await session.scalars(
            select(DsrCase)
            .where(DsrCase.workspace_id == workspace.id, DsrCase.completed_at.is_(None))
            .order_by(*urgency_order())
            .limit(DIGEST_LIST_LIMIT + 1)
        )
    ).all()
    if not rows:
        return None
    now = utcnow()
    views = [view(row, now) for row in rows]
    overdue = [v for v in views if v.overdue]
    lines = [
        f"Data-subject requests of {workspace.name}: {len(views)} open"
        + (f" (first {DIGEST_LIST_LIMIT} shown)" if len(views) > DIGEST_LIST_LIMIT else "")
        + f", {len(overdue)} OVERDUE.",
        "",
    ]
    for v in views[:DIGEST_LIST_LIMIT]:
        flag = "OVERDUE " if v.overdue else "target missed " if v.target_missed else ""
        lines.append(
            f"- {flag}{v.kind} {v.id} ({v.status}), received {v.received_at:%Y-%m-%d}, "
            f"due {v.due_at:%Y-%m-%d}, target {v.target_at:%Y-%m-%d}"
        )
    lines += ["", "Open the console's Requests page to act on them."]
    return "\n".join(lines) + "\n"


async def _run_dsr_digest(batch: Batch) -> BatchResult:
    rt = batch.rt
    session = batch.session
    after = uuid.UUID(batch.cursor["after"]) if batch.cursor else None
    query = (
        select(Workspace)
        .where(Workspace.id.in_(select(DsrCase.workspace_id).where(DsrCase.completed_at.is_(None))))
        .order_by(Workspace.id)
        .limit(batch.size)
    )
    if after is not None:
        query = query.where(Workspace.id > after)
    workspaces = list((await session.scalars(query)).all())
    if mail_enabled(rt.settings):
        for workspace in workspaces:
            await queue_digest(rt, session, workspace)
    done = len(workspaces) < batch.size
    cursor = None if done else {"after": str(workspaces[-1].id)}
    return BatchResult(items=len(workspaces), cursor=cursor, done=done)


async def queue_digest(rt: Runtime, session: AsyncSession, workspace: Workspace) -> int:
    """Queue one workspace's digest to each of its admins; returns how many mails."""
    text = await digest_text(session, workspace)
    if text is None:
        return 0
    addresses = await admin_addresses(rt, session, workspace.id)
    for address in addresses:
        subject = f"Data-subject requests of {workspace.name}: daily digest"
        await queue_mail(rt, session, workspace.id, Mail(address, subject, text))
    return len(addresses)


DSR_DIGEST = register(
    JobKind(
        name="dsr_digest",
        description="Mail each workspace's admins the open data-subject requests, overdue first.",
        run_batch=_run_dsr_digest,
        every_seconds=DAY_SECONDS,
        batch_size=50,
    )
)
