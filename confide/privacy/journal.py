"""The erasure journal: every erasure and retention deletion, so a restore never resurrects it.

Why: a backup taken on Monday still holds the rows of a person erased on Tuesday (their keys
are gone, but the rows, stubs and key ids are not). Restoring it must erase that person again.
So every unit of work that erases or deletes by retention calls :func:`record_erasure` before
it commits: one entry in the key store's append-only, hash-chained journal
(``confide.crypto.keystore_records``) with the workspace, subject ids and key ids only (no
personal data), and the keys tombstoned in the same key-store transaction. If recording fails
the unit rolls back (nothing is erased without its entry); if the unit rolls back after
recording, the entry stands and the keys stay tombstoned: the erasure was asked for, and
running it again finishes it (the retry job destroys the keys meanwhile).

The journal lives in the key store, never in a backup of the data;
``confide.privacy.reapply.reapply_journal`` replays it onto a restored database.

**The anchor.** A hash chain shows a removed or altered entry, but not a removed *tail*: cut
the newest entries (or put back an older copy of the key store) and what is left still
verifies. So each entry is also anchored outside the key store: the same unit of work appends
an audit record ``erasure.journaled`` (resource ``erasure-journal:<seq>:<hash>``) to the
workspace's audit chain in the data database, which commits together with the erasure.
:func:`anchored_head` reads the newest anchor; ``confide.backup.restore`` refuses when the
journal's head is behind it. Removing the anchor in turn breaks the audit chain (and its
signed checkpoints), so cutting the tail unnoticed needs both stores rewritten.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select

from confide.audit.ledger import Actor, append
from confide.audit.models import AuditEvent

if TYPE_CHECKING:
    from confide.core.db import UnitOfWork
    from confide.runtime import Runtime

JournalKind = Literal["erasure", "retention"]
ANCHOR_ACTION = "erasure.journaled"
ANCHOR_PREFIX = "erasure-journal:"


async def record_erasure(
    rt: Runtime,
    tx: UnitOfWork,
    *,
    kind: JournalKind,
    workspace_id: uuid.UUID | None,
    subject_ids: Iterable[uuid.UUID] = (),
    key_ids: Iterable[uuid.UUID] = (),
) -> int:
    """Append one journal entry and tombstone ``key_ids`` (conversation and subject keys), to
    be called inside the erasing unit of work, before it commits. ``subject_ids``: the data
    subjects erased (``subjects.id``); ``key_ids``: every data key the unit destroys after
    commit (a conversation's key id is its id). ``tx``: that unit, which also gets the entry's
    anchor (an ``erasure.journaled`` audit record in the workspace's chain). Returns the
    entry's sequence number. Raises whatever the key store raises, or ``AuditUnavailable``
    (the unit then rolls back)."""
    entry = await rt.keyring.store.append_journal(
        kind,
        str(workspace_id) if workspace_id is not None else "platform",
        [str(s) for s in subject_ids],
        [str(k) for k in key_ids],
    )
    await append(
        tx,
        rt,
        Actor("system", None, workspace_id),
        ANCHOR_ACTION,
        resource=f"{ANCHOR_PREFIX}{entry.seq}:{entry.hash}",
    )
    return entry.seq


async def anchored_head(rt: Runtime) -> tuple[int, str] | None:
    """``(seq, hash)`` of the newest journal entry anchored in ``rt``'s audit ledger, or None
    when there is none. Scans the audit records (no index on ``action``: it runs once per
    restore or verify, not per request)."""
    query = select(AuditEvent.resource).where(AuditEvent.action == ANCHOR_ACTION)
    best: tuple[int, str] | None = None
    async with rt.db.session() as session:
        for resource in (await session.scalars(query)).all():
            if resource is None or not resource.startswith(ANCHOR_PREFIX):
                continue
            seq_text, _, entry_hash = resource[len(ANCHOR_PREFIX) :].partition(":")
            if seq_text.isdigit() and (best is None or int(seq_text) > best[0]):
                best = (int(seq_text), entry_hash)
    return best
