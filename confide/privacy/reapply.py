"""Re-applying the erasure journal to a restored database, so a restore never resurrects what
was erased or deleted by retention after the backup was taken (GDPR Art. 17; issue 19).

Each journal entry (``confide.privacy.journal``) names data subjects and data keys. For a
subject, every visitor and operator it is still attached to in the restored database is erased
again through the erasure engine (rows, stubs, its own audit record). For a key id that is a
conversation's id, the conversation and everything the subject map reaches from it is deleted.
Their keys were destroyed when the entry was written, so nothing of them could be read anyway;
this removes the rows, ids and metadata too. Idempotent: running it again finds nothing left.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from confide.core.errors import NotFound
from confide.models import metadata
from confide.privacy.erasure import do_erase_subject, erase_conversation_rows

if TYPE_CHECKING:
    from confide.runtime import Runtime


@dataclass
class ReapplyReport:
    """``entries`` replayed, ``people`` erased again, ``conversations`` deleted again."""

    entries: int = 0
    people: int = 0
    conversations: int = 0


async def reapply_journal(rt: Runtime, after_seq: int) -> ReapplyReport:
    """Replay every journal entry after ``after_seq`` onto ``rt``'s database."""
    report = ReapplyReport()
    for entry in await rt.keyring.store.journal_entries(after_seq):
        report.entries += 1
        subject_ids = [uuid.UUID(s) for s in json.loads(entry.subject_ids)]
        key_ids = [uuid.UUID(k) for k in json.loads(entry.key_ids)]
        report.conversations += await erase_conversation_rows(rt, key_ids)
        for kind, person_id in await _people_of(rt, subject_ids):
            try:
                await do_erase_subject(rt, None, kind, person_id)
            except NotFound:
                continue
            report.people += 1
    return report


async def _people_of(rt: Runtime, subject_ids: list[uuid.UUID]) -> list[tuple[str, uuid.UUID]]:
    if not subject_ids:
        return []
    people: list[tuple[str, uuid.UUID]] = []
    async with rt.db.session() as session:
        for kind, table_name in (("visitor", "visitors"), ("operator", "operators")):
            table = metadata.tables[table_name]
            rows = await session.scalars(
                select(table.c.id).where(table.c.subject_id.in_(subject_ids))
            )
            people.extend((kind, person_id) for person_id in rows.all())
    return people
