"""The key step of the archive transition: data keys of archived conversations are re-wrapped
under the workspace's archive key, so operational key access no longer opens them.

One named function, :func:`archive_data_keys`, is the only place the retention run touches
keys when archiving; the Keyring primitive it calls is built with the key epochs and backups
work (``confide.crypto.keyring``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from confide.core.db import UnitOfWork

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def archive_data_keys(
    rt: Runtime, tx: UnitOfWork, workspace_id: uuid.UUID, conversation_ids: list[uuid.UUID]
) -> None:
    """Re-wrap the data keys of ``conversation_ids`` (the conversations' own key ids) under
    ``workspace_id``'s archive key, inside ``tx``. Until the Keyring's archive primitive is
    merged this changes no key: access to archived conversations is still closed by the
    policy's lifecycle rule (``confide.access.policy.conversation_rule``)."""
    return None
