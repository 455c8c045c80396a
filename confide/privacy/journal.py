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
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from confide.runtime import Runtime

JournalKind = Literal["erasure", "retention"]


async def record_erasure(
    rt: Runtime,
    *,
    kind: JournalKind,
    workspace_id: uuid.UUID | None,
    subject_ids: Iterable[uuid.UUID] = (),
    key_ids: Iterable[uuid.UUID] = (),
) -> int:
    """Append one journal entry and tombstone ``key_ids`` (conversation and subject keys), to
    be called inside the erasing unit of work, before it commits. ``subject_ids``: the data
    subjects erased (``subjects.id``); ``key_ids``: every data key the unit destroys after
    commit (a conversation's key id is its id). Returns the entry's sequence number. Raises
    whatever the key store raises (the unit then rolls back)."""
    entry = await rt.keyring.store.append_journal(
        kind,
        str(workspace_id) if workspace_id is not None else "platform",
        [str(s) for s in subject_ids],
        [str(k) for k in key_ids],
    )
    return entry.seq
