"""The key step of the archive transition: data keys of archived conversations are re-wrapped
under the workspace's archive key (``Keyring.archive_keys``), so no operational read path can
decrypt them, whatever a policy check above it decides; they open only inside
``keyring.archive_access()`` (the archive custodian's context).

Ordering: the keys move *before* the batch commits the ``archived`` lifecycle. If the commit
then fails, the conversation stays active with its key in the archive (unreadable) until the
next run, which finds it still due, archives it and skips the already-moved key; the other
order could leave an archived conversation with a live key and nothing to notice it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from confide.realtime.fanout.channels import KEYS_CHANNEL

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def archive_data_keys(
    rt: Runtime, workspace_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> int:
    """Re-wrap the data keys of ``conversation_ids`` (each conversation's own key) under
    ``workspace_id``'s archive key, and tell every node to drop cached copies. Returns how
    many keys moved (already archived or never created ones are skipped)."""
    ids = [str(cid) for cid in conversation_ids]
    moved = await rt.keyring.archive_keys(str(workspace_id), ids)
    # At once, not after commit: a node must not keep reading from a cached copy meanwhile.
    await rt.broker.publish(KEYS_CHANNEL, {"type": "keys_archived", "key_ids": ids})
    return moved
