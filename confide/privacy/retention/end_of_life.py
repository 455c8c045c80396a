"""End of life of a batch of conversations: the one destruction sequence that the retention
run and bulk delete share, inside the caller's unit of work.

Legal holds (GDPR Art. 17(3)(e)) are asked first and held conversations are left alone. The
rest get their anonymised statistics row, then the erasure engine destroys their rows, erases
each visitor left with nothing, and the keys of both are journaled before commit (kept
outside backups, so a restore deletes them again) and destroyed in one purge after it (a run
of batches gathers several batches' keys into one purge: ``confide.privacy.key_cache``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import Channel, Conversation
from confide.chat.statistics import record_statistics
from confide.core.db import UnitOfWork
from confide.core.id_lists import id_in
from confide.privacy import holds
from confide.privacy.erasure import (
    erase_conversations_in,
    erase_visitors_in,
    held_conversation_ids,
)
from confide.privacy.erasure_walk import ErasureReport
from confide.privacy.journal import record_erasure
from confide.privacy.key_cache import KeyPurge, destroy_keys

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def held_of(tx: UnitOfWork, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` under a legal hold: flagged ``held`` or held by a hold record
    (one query answers both, and locks the rows on PostgreSQL)."""
    return await held_conversation_ids(tx, ids)


async def held_rule(session: AsyncSession, workspace_id: uuid.UUID) -> Any:
    """For counting (dry runs): a WHERE clause over ``conversations`` matching those of the
    workspace under a legal hold now, flagged ``held`` or covered by an active hold record.
    The destroying unit asks :func:`held_of` instead, which also locks the rows."""
    active = await holds.active_holds(session, [workspace_id])
    rule = or_(Conversation.held.is_(True), *(holds.hold_rule(h) for h in active))
    # Never NULL (a hold on a group does not match a conversation without one), so that
    # ``~held_rule`` means "not held".
    return case((rule, True), else_=False)


async def freed_visitors(
    session: AsyncSession, workspace_id: uuid.UUID, destroyed: Any
) -> dict[Channel, int]:
    """For counting (dry runs): how many of the workspace's visitors would be erased because
    every conversation they have matches ``destroyed`` (a WHERE clause: due and not held), per
    channel of the lane that would erase them (the last of their channels in lane order, as
    the run walks lanes sorted by channel). One grouped query over the workspace."""
    gone = case((destroyed, 1), else_=0)
    # ix_conversations_visitor_id groups the workspace's conversations by visitor.
    per_visitor = (
        select(Conversation.visitor_id, func.max(Conversation.channel).label("channel"))
        .where(Conversation.workspace_id == workspace_id)
        .group_by(Conversation.visitor_id)
        .having(func.min(gone) == 1)
        .subquery()
    )
    rows = await session.execute(
        select(per_visitor.c.channel, func.count()).group_by(per_visitor.c.channel)
    )
    return {Channel(channel): n for channel, n in rows.all()}


@dataclass(frozen=True)
class EndOfLife:
    """What :func:`destroy_conversations` did: statistics rows written, the visitors erased
    (data subject ids) and the erasure engine's report (rows per table)."""

    statistics: int
    visitors_erased: list[uuid.UUID]
    erasure: ErasureReport


async def destroy_conversations(
    rt: Runtime,
    tx: UnitOfWork,
    workspace_id: uuid.UUID,
    ids: list[uuid.UUID],
    *,
    kind: str,
    purge: KeyPurge | None = None,
) -> EndOfLife:
    """Destroy the conversations ``ids`` (none of them held) in the caller's unit of work:
    statistics row, rows, visitors left with nothing, and their keys after commit (with
    ``purge``, in the caller's purge of several batches). ``kind`` names the erasure report
    (``retention``, ``bulk_delete``). Raises whatever the erasure engine or the key store
    raises (the unit then rolls back)."""
    written = await record_statistics(tx, ids)  # never closed, or closed today
    visitors = await tx.scalars(
        select(Conversation.visitor_id).where(id_in(tx, Conversation.id, ids))
    )
    report = ErasureReport(kind, workspace_id)
    keys: list[uuid.UUID] = []
    await erase_conversations_in(rt, tx, ids, report, keys_out=keys)
    erased = await erase_visitors_in(tx, sorted(set(visitors.all())), report, keys)
    # One purge of the key store for the whole batch: conversations' and freed subjects' keys.
    if keys:
        # Journaled before commit (kept outside backups): a restore deletes these again.
        await record_erasure(
            rt, tx, kind="retention", workspace_id=workspace_id, subject_ids=erased, key_ids=keys
        )
        if purge is None:
            tx.on_commit(destroy_keys, rt, keys)
        else:
            purge.add_on_commit(tx, keys)
    return EndOfLife(written, erased, report)
