"""The retention run: statistics, archive and end of life, in bounded batches.

Design (after Zulip's ``retention.py``):
- **Lanes.** A run walks every workspace, channel and stage in a fixed order: ``statistics``
  (closed conversations get their anonymised row, ``confide.chat.statistics``), ``archive``
  (past active retention: ``lifecycle = archived``, keys re-wrapped under the archive key) and
  ``end_of_life`` (past the archive period: statistics kept, everything else destroyed through
  the erasure engine; a visitor left with nothing is erased too).
- **One transaction per batch, the report in it.** Each batch locks the run row, takes at
  most ``batch_size`` conversations of its lane after the cursor (``batches.next_batch``:
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, another run never takes the same rows), does the
  work, adds to the run's counts and moves the cursor, and commits all of it together. A run
  killed with SIGKILL loses its open batch whole; resuming it (the job's cursor, or ``confide
  retention run`` finding the unfinished run) starts from the last committed cursor, so
  nothing is counted twice.
- **Legal hold** (GDPR Art. 17(3)(e)): every batch asks ``held_conversation_ids`` (and the
  ``held`` flag) inside its transaction; held conversations are skipped and counted, never
  archived or destroyed.
- **The report.** When the last lane is done the run stores, per workspace and channel, what
  it did, the oldest conversation still kept and when its next step is due
  (``confide.privacy.retention.report``), and appends ``retention.run`` to each workspace's
  audit chain.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select, update

from confide.access.models import Workspace
from confide.audit.ledger import Actor, append
from confide.chat.models import Channel, Conversation, ConversationLifecycle
from confide.chat.statistics import record_statistics, statistics_pending_rule
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import NotFound
from confide.core.id_lists import id_in
from confide.privacy import settings as privacy_settings
from confide.privacy.key_cache import KeyPurge
from confide.privacy.retention.archive import archive_data_keys
from confide.privacy.retention.batches import next_batch
from confide.privacy.retention.end_of_life import (
    destroy_conversations,
    freed_visitors,
    held_of,
    held_rule,
)
from confide.privacy.retention.models import RetentionRun, RetentionRunCount
from confide.privacy.retention.policy import ChannelPolicy, policies_of
from confide.privacy.retention.report import build_report, count_due

if TYPE_CHECKING:
    from confide.runtime import Runtime

# Conversations per batch (one transaction). Each batch costs some sixty statements whatever
# its size (the erasure engine's reaches, holds, statistics, journal, audit, counts), so a
# smaller batch spends its time on them; 1,000 (about 10,000 messages) holds SQLite's write
# lock for about 0.2 s on a small machine, which a chat message sent meanwhile waits out.
BATCH_SIZE = 1_000
STAGES = ("statistics", "archive", "end_of_life")
Lane = tuple[str, str, str]  # (workspace id, channel, stage)


def ended_at() -> Any:
    """When a conversation's retention clock started: its end, or its start if never closed."""
    return func.coalesce(Conversation.closed_at, Conversation.created_at)


async def policies_for(session: UnitOfWork, workspace_id: uuid.UUID) -> dict[str, ChannelPolicy]:
    """The workspace's retention policy per channel, from its privacy settings."""
    return policies_of(privacy_settings.render(await privacy_settings.load(session, workspace_id)))


def lane_rule(stage: str, policy: ChannelPolicy, as_of: datetime) -> Any:
    """The WHERE clause of the conversations due in one stage of one channel's lane."""
    eol = ended_at() < policy.end_of_life_cutoff(as_of)
    if stage == "statistics":
        return statistics_pending_rule(as_of)
    if stage == "archive":
        cutoff = policy.archive_cutoff(as_of)
        if cutoff is None:
            return False
        return (
            (Conversation.lifecycle == ConversationLifecycle.ACTIVE) & (ended_at() < cutoff) & ~eol
        )
    return eol


async def _lanes(session: UnitOfWork) -> list[Lane]:
    workspaces = (await session.scalars(select(Workspace.id).order_by(Workspace.id))).all()
    # Sorted, so a cursor's lane (or, if its workspace is gone, the next one) is found by
    # comparison; stages sort as archive, end_of_life, statistics (end of life writes the
    # statistics rows it needs itself).
    return sorted((str(w), c.value, s) for w in workspaces for c in Channel for s in STAGES)


async def start_run(rt: Runtime, tx: UnitOfWork, as_of: datetime) -> RetentionRun:
    """A new run as of ``as_of`` (the real or the simulated date), in the caller's unit."""
    run = RetentionRun(id=uuid.uuid4(), as_of=as_of, dry_run=False, status="running", batches=0)
    tx.add(run)
    await tx.flush()
    return run


async def unfinished_run(rt: Runtime, as_of: datetime) -> uuid.UUID | None:
    """The run of the same day that was interrupted (killed, crashed), to resume it."""
    async with rt.db.session() as session:
        runs = await session.scalars(
            select(RetentionRun)
            .where(RetentionRun.status == "running", RetentionRun.dry_run.is_(False))
            .order_by(RetentionRun.started_at.desc())
        )
        for run in runs.all():
            if run.as_of.date() == as_of.date():
                return run.id
    return None


async def _add_counts(tx: UnitOfWork, run_id: uuid.UUID, lane: Lane, **counts: int) -> None:
    workspace_id = uuid.UUID(lane[0])
    key = (run_id, workspace_id, lane[1])
    if await tx.get(RetentionRunCount, key) is None:
        tx.add(
            RetentionRunCount(
                run_id=run_id,
                workspace_id=workspace_id,
                channel=lane[1],
                statistics=0,
                archived=0,
                destroyed=0,
                held=0,
                visitors_erased=0,
            )
        )
        await tx.flush()
    values = {name: getattr(RetentionRunCount, name) + n for name, n in counts.items() if n}
    if values:
        await tx.execute(
            update(RetentionRunCount)
            .where(
                RetentionRunCount.run_id == run_id,
                RetentionRunCount.workspace_id == workspace_id,
                RetentionRunCount.channel == lane[1],
            )
            .values(**values)
        )


async def _do_lane(
    rt: Runtime,
    tx: UnitOfWork,
    run: RetentionRun,
    lane: Lane,
    ids: list[uuid.UUID],
    purge: KeyPurge | None,
) -> None:
    stage = lane[2]
    if stage == "statistics":
        await _add_counts(tx, run.id, lane, statistics=await record_statistics(tx, ids))
        return
    held = await held_of(tx, ids)
    todo = [cid for cid in ids if cid not in held]
    if stage == "archive":
        if todo:
            await tx.execute(
                update(Conversation)
                .where(id_in(tx, Conversation.id, todo))
                .values(lifecycle=ConversationLifecycle.ARCHIVED)
            )
            await archive_data_keys(rt, uuid.UUID(lane[0]), todo)
        await _add_counts(tx, run.id, lane, archived=len(todo), held=len(held))
        return
    done = await destroy_conversations(
        rt, tx, uuid.UUID(lane[0]), todo, kind="retention", purge=purge
    )
    erased = done.visitors_erased
    if todo or held:
        await append(
            tx,
            rt,
            Actor("system", None, uuid.UUID(lane[0])),
            "retention.end_of_life",
            subjects=erased,
            resource=f"workspace:{lane[0]}",
            details={
                "run": str(run.id),
                "channel": lane[1],
                "conversations": len(todo),
                "held": len(held),
                "visitors_erased": len(erased),
                "rows": dict(sorted(done.erasure.rows.items())),
            },
        )
    await _add_counts(
        tx,
        run.id,
        lane,
        statistics=done.statistics,
        destroyed=len(todo),
        held=len(held),
        visitors_erased=len(erased),
    )


async def run_batch(
    rt: Runtime,
    tx: UnitOfWork,
    run_id: uuid.UUID,
    *,
    batch_size: int = BATCH_SIZE,
    purge: KeyPurge | None = None,
) -> tuple[int, bool]:
    """One batch of the run, in the caller's unit of work: ``(conversations handled, done)``.
    The run row is locked first, so two workers resuming one run take turns. The keys of the
    conversations it destroys are destroyed after the commit, or with ``purge``'s next
    purge (a run of many batches)."""
    run = await tx.get(RetentionRun, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise NotFound("No such retention run.")
    if run.status != "running":
        return 0, True
    lanes = await _lanes(tx)
    cursor = run.cursor or {}
    at = tuple(cursor.get("lane", ()))
    start = next((i for i, lane in enumerate(lanes) if lane >= at), len(lanes)) if at else 0
    after = cursor.get("after") if at and start < len(lanes) and lanes[start] == at else None
    policies: dict[str, dict[str, ChannelPolicy]] = {}
    for lane in lanes[start:]:
        if lane[0] not in policies:
            policies[lane[0]] = await policies_for(tx, uuid.UUID(lane[0]))
        rule = lane_rule(lane[2], policies[lane[0]][lane[1]], run.as_of)
        if rule is False:
            after = None
            continue
        ids = await next_batch(
            tx,
            Conversation.workspace_id == uuid.UUID(lane[0]),
            Conversation.channel == Channel(lane[1]),
            rule,
            after=None if after is None else uuid.UUID(after),
            limit=batch_size,
        )
        if not ids:
            after = None
            continue
        await _do_lane(rt, tx, run, lane, ids, purge)
        run.cursor = {"lane": list(lane), "after": str(ids[-1])}
        run.batches += 1
        if rt.settings.job_batch_pause_seconds:  # lets tests kill a run inside a batch
            await asyncio.sleep(rt.settings.job_batch_pause_seconds)
        return len(ids), False
    await _finish(rt, tx, run)
    return 0, True


async def prune_runs(rt: Runtime, tx: UnitOfWork, keep: uuid.UUID) -> int:
    """Delete the runs (and their counts) started more than ``retention_run_keep_days`` ago,
    finished or abandoned, except ``keep``, in the caller's unit, and record
    ``retention.runs_pruned`` on the platform chain when any went. Returns how many went.
    The stored reports hold counts and workspace ids only, but are kept for a bounded time
    like everything else (GDPR Art. 5(1)(e))."""
    cutoff = utcnow() - timedelta(days=rt.settings.retention_run_keep_days)
    # No index needed: about one row a day, at most retention_run_keep_days of them.
    old = list(
        (
            await tx.scalars(
                select(RetentionRun.id).where(
                    RetentionRun.started_at < cutoff, RetentionRun.id != keep
                )
            )
        ).all()
    )
    if not old:
        return 0
    await tx.execute(delete(RetentionRunCount).where(RetentionRunCount.run_id.in_(old)))
    await tx.execute(delete(RetentionRun).where(RetentionRun.id.in_(old)))
    await append(
        tx,
        rt,
        None,
        "retention.runs_pruned",
        resource="retention_runs",
        details={"runs": len(old), "before": cutoff.isoformat()},
    )
    return len(old)


async def _finish(rt: Runtime, tx: UnitOfWork, run: RetentionRun) -> None:
    run.report = await build_report(tx, run.id, run.as_of)
    run.status = "finished"
    run.finished_at = utcnow()
    run.cursor = None
    if not run.dry_run:
        await prune_runs(rt, tx, run.id)
    for workspace_id, channels in run.report["workspaces"].items():
        await append(
            tx,
            rt,
            Actor("system", None, uuid.UUID(workspace_id)),
            "retention.run" if not run.dry_run else "retention.dry_run",
            resource=f"workspace:{workspace_id}",
            details={"run": str(run.id), "as_of": run.as_of.isoformat(), "channels": channels},
        )


async def do_run_retention(
    rt: Runtime,
    *,
    as_of: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
) -> RetentionRun:
    """Run retention as of ``as_of`` (default now) to the end, one transaction per batch;
    resumes the same day's interrupted run if there is one. Returns the finished run. The
    destroyed conversations' keys go in purges of several batches (``KeyPurge``), the last
    one before this returns."""
    as_of = as_of or utcnow()
    run_id = await unfinished_run(rt, as_of)
    if run_id is None:
        async with rt.db.transaction() as tx:
            run_id = (await start_run(rt, tx, as_of)).id
    done = False
    purge = KeyPurge(rt)
    try:
        while not done:
            async with rt.db.transaction() as tx:
                items, done = await run_batch(rt, tx, run_id, batch_size=batch_size, purge=purge)
            if on_batch is not None:
                on_batch(items)
    finally:
        await purge.flush()
    async with rt.db.session() as session:
        run = await session.get(RetentionRun, run_id)
        assert run is not None
        return run


async def do_dry_run_retention(rt: Runtime, *, as_of: datetime | None = None) -> RetentionRun:
    """What a run as of ``as_of`` would do, counted, changing nothing but the stored report
    (a ``dry_run`` run, audited like a real one)."""
    as_of = as_of or utcnow()
    async with rt.db.transaction() as tx:
        run = RetentionRun(id=uuid.uuid4(), as_of=as_of, dry_run=True, status="running", batches=0)
        tx.add(run)
        await tx.flush()
        lanes = await _lanes(tx)
        for workspace in sorted({lane[0] for lane in lanes}):
            workspace_id = uuid.UUID(workspace)
            policies = await policies_for(tx, workspace_id)
            held = await held_rule(tx, workspace_id)
            for lane in (lane for lane in lanes if lane[0] == workspace):
                rule = lane_rule(lane[2], policies[lane[1]], as_of)
                if rule is False:
                    continue
                due, n_held = await count_due(tx, workspace_id, Channel(lane[1]), rule, held)
                name = {"statistics": "statistics", "archive": "archived"}.get(lane[2], "destroyed")
                if due or n_held:
                    await _add_counts(tx, run.id, lane, **{name: due}, held=n_held)
            # The visitors end of life would erase: all their conversations due and not held.
            destroyed = or_(
                *(
                    (Conversation.channel == Channel(channel)) & lane_rule("end_of_life", p, as_of)
                    for channel, p in policies.items()
                )
            )
            freed = await freed_visitors(tx, workspace_id, destroyed & ~held)
            for channel, n in freed.items():
                await _add_counts(
                    tx, run.id, (workspace, channel.value, "end_of_life"), visitors_erased=n
                )
        await _finish(rt, tx, run)
        return run
