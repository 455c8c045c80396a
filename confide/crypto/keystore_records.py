"""What the key store records beside the keys: tombstones to finish, pending key epochs, and
the erasure journal (``confide.crypto.keystore`` mixes this in).

- **Tombstones first.** An erasure tombstones its keys in the key store *before* its unit of
  work commits (``record_erasure``), and destroys them after the commit. If the destruction
  fails or the process dies in between, the keys are tombstoned but still present, which is
  exactly what :meth:`KeyRecords.tombstoned_but_present` finds for the retry job.
- **Pending epochs.** A workspace that lost a key is marked; the next key epoch rotates its KEK.
- **The erasure journal** is append-only and hash-chained: each entry's hash covers the
  previous hash and the entry, so a removed, altered or reordered entry breaks the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import String, delete, func, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.core.clock import utcnow
from confide.core.db import Database, UTCDateTime
from confide.core.id_lists import id_rows
from confide.crypto.keystore_schema import (
    ArchivedDataKey,
    ArchiveKey,
    DataKey,
    DestroyedKey,
    ErasureJournalEntry,
    PendingEpoch,
    WorkspaceKey,
)

GENESIS_HASH = "0" * 64
_APPEND_ATTEMPTS = 20


async def tombstone_keys(session: AsyncSession, key_ids: Iterable[str]) -> int:
    """Tombstone the ids not tombstoned yet, in the caller's key-store transaction: one
    ``INSERT ... SELECT`` from the id list bound as one parameter (``id_rows``), whatever the
    batch size; no row travels to Python and back. Returns how many were new."""
    ids = sorted(set(key_ids))
    if not ids:
        return 0
    given = id_rows(session, String(), ids).subquery()
    # The primary key answers each NOT EXISTS: no scan of the (ever growing) tombstones.
    known = select(DestroyedKey.id).where(DestroyedKey.id == given.c.value).exists()
    result = await session.execute(
        insert(DestroyedKey).from_select(
            ["id", "destroyed_at"],
            select(given.c.value, literal(utcnow(), UTCDateTime)).where(~known),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def entry_hash(prev_hash: str, entry: ErasureJournalEntry) -> str:
    canonical = json.dumps(
        [
            entry.seq,
            entry.recorded_at.isoformat(),
            entry.kind,
            entry.workspace_id,
            json.loads(entry.subject_ids),
            json.loads(entry.key_ids),
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(f"{prev_hash}:{canonical}".encode()).hexdigest()


class KeyRecords:
    db: Database

    # -- tombstones ---------------------------------------------------------------------

    async def tombstoned_but_present(
        self, limit: int, *, older_than: timedelta = timedelta(0)
    ) -> list[str]:
        """Ids tombstoned at least ``older_than`` ago whose key still exists (a destruction
        that failed or never ran), oldest first."""
        present = union_all(select(DataKey.id), select(ArchivedDataKey.id)).subquery()
        async with self.db.session() as session:
            rows = await session.scalars(
                select(DestroyedKey.id)
                .join(present, present.c.id == DestroyedKey.id)
                .where(DestroyedKey.destroyed_at <= utcnow() - older_than)
                .order_by(DestroyedKey.destroyed_at)
                .limit(limit)
            )
            return list(rows.all())

    # -- key epochs ---------------------------------------------------------------------

    async def pending_epochs(self) -> dict[str, datetime]:
        async with self.db.session() as session:
            rows = await session.execute(select(PendingEpoch.workspace_id, PendingEpoch.marked_at))
            return {workspace_id: marked_at for workspace_id, marked_at in rows.all()}

    async def clear_pending_epochs(self, seen: dict[str, datetime]) -> None:
        """Unmark the workspaces seen, unless one was marked again since."""
        async with self.db.transaction() as session:
            for workspace_id, marked_at in seen.items():
                await session.execute(
                    delete(PendingEpoch).where(
                        PendingEpoch.workspace_id == workspace_id,
                        PendingEpoch.marked_at <= marked_at,
                    )
                )

    async def keks_wrapped_by_others(self, master_key_id: str) -> int:
        """How many KEKs (workspace and archive) are wrapped by another master key."""
        async with self.db.session() as session:
            total = 0
            for table in (WorkspaceKey, ArchiveKey):
                count = await session.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(table.master_key_id != master_key_id)
                )
                total += count or 0
            return total

    # -- the erasure journal ------------------------------------------------------------

    async def append_journal(
        self, kind: str, workspace_id: str, subject_ids: list[str], key_ids: list[str]
    ) -> ErasureJournalEntry:
        """Append one entry and tombstone ``key_ids`` in the same transaction (so a key is
        never destroyed without its entry, and a recorded key is never created again).
        Concurrent appenders race for the next ``seq``; the loser tries again."""
        for _ in range(_APPEND_ATTEMPTS):
            try:
                async with self.db.transaction() as session:
                    last = (
                        await session.execute(
                            select(ErasureJournalEntry.seq, ErasureJournalEntry.hash)
                            .order_by(ErasureJournalEntry.seq.desc())
                            .limit(1)
                        )
                    ).first()
                    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
                    entry = ErasureJournalEntry(
                        seq=seq,
                        recorded_at=utcnow(),
                        kind=kind,
                        workspace_id=workspace_id,
                        subject_ids=json.dumps(sorted(set(subject_ids))),
                        key_ids=json.dumps(sorted(set(key_ids))),
                        prev_hash=prev,
                    )
                    entry.hash = entry_hash(prev, entry)
                    session.add(entry)
                    await tombstone_keys(session, key_ids)
                return entry
            except IntegrityError:
                continue
        raise RuntimeError("The erasure journal is too busy to append to; try again.")

    async def journal_entries(self, after_seq: int = 0) -> list[ErasureJournalEntry]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(ErasureJournalEntry)
                .where(ErasureJournalEntry.seq > after_seq)
                .order_by(ErasureJournalEntry.seq)
            )
            return list(rows.all())

    async def journal_head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest entry, ``(0, GENESIS_HASH)`` when empty."""
        async with self.db.session() as session:
            last = (
                await session.execute(
                    select(ErasureJournalEntry.seq, ErasureJournalEntry.hash)
                    .order_by(ErasureJournalEntry.seq.desc())
                    .limit(1)
                )
            ).first()
            return (last[0], last[1]) if last else (0, GENESIS_HASH)

    async def verify_journal(self) -> int | None:
        """The seq of the first entry that breaks the chain, or None when it holds."""
        prev, expected_seq = GENESIS_HASH, 1
        for entry in await self.journal_entries():
            if entry.seq != expected_seq or entry.prev_hash != prev:
                return entry.seq
            if entry_hash(prev, entry) != entry.hash:
                return entry.seq
            prev, expected_seq = entry.hash, entry.seq + 1
        return None
