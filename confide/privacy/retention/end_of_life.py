"""End of life of a batch of conversations: the one destruction sequence that the retention
run and bulk delete share, inside the caller's unit of work.

Legal holds (GDPR Art. 17(3)(e)) are asked first and held conversations are left alone. The
rest get their anonymised statistics row, then the erasure engine destroys their rows, erases
each visitor left with nothing, and the keys of both are journaled before commit (kept
outside backups, so a restore deletes them again) and destroyed in one purge after it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from confide.chat.models import Conversation
from confide.chat.statistics import record_statistics
from confide.core.db import UnitOfWork
from confide.privacy.erasure import (
    ErasureReport,
    erase_conversations_in,
    erase_visitors_in,
    held_conversation_ids,
)
from confide.privacy.journal import record_erasure
from confide.privacy.key_cache import destroy_keys

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def held_of(tx: UnitOfWork, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among ``ids`` under a legal hold: flagged ``held`` or held by a hold record."""
    flagged = await tx.scalars(
        select(Conversation.id).where(Conversation.id.in_(ids), Conversation.held.is_(True))
    )
    return set(flagged.all()) | await held_conversation_ids(tx, ids)


@dataclass(frozen=True)
class EndOfLife:
    """What :func:`destroy_conversations` did: statistics rows written, the visitors erased
    (data subject ids) and the erasure engine's report (rows per table)."""

    statistics: int
    visitors_erased: list[uuid.UUID]
    erasure: ErasureReport


async def destroy_conversations(
    rt: Runtime, tx: UnitOfWork, workspace_id: uuid.UUID, ids: list[uuid.UUID], *, kind: str
) -> EndOfLife:
    """Destroy the conversations ``ids`` (none of them held) in the caller's unit of work:
    statistics row, rows, visitors left with nothing, and their keys after commit. ``kind``
    names the erasure report (``retention``, ``bulk_delete``). Raises whatever the erasure
    engine or the key store raises (the unit then rolls back)."""
    written = await record_statistics(tx, ids)  # never closed, or closed today
    visitors = await tx.scalars(select(Conversation.visitor_id).where(Conversation.id.in_(ids)))
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
        tx.on_commit(destroy_keys, rt, keys)
    return EndOfLife(written, erased, report)
