"""Where Confide's own blobs live, and deleting them after a commit.

Attachments (and whatever else keeps sealed bytes outside the database) share one
:class:`~confide.core.storage.BlobStore`, a directory ``blobs/`` under the data dir. Tables
whose rows name blobs say so in the subject data map (``TableMap.blob_columns``), so erasure
and retention delete the blobs of the rows they delete: after the commit (a rolled-back unit
deletes nothing), and only as a tidy-up, since the data key destroyed with them already made
the bytes unreadable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from confide.core.config import Settings
from confide.core.storage import BlobStore, LocalDirectoryStore

log = logging.getLogger(__name__)
BLOB_DIR = "blobs"
_stores: dict[Path, LocalDirectoryStore] = {}


def blob_store(settings: Settings) -> BlobStore:
    """The instance's blob store (a directory under ``settings.data_dir``)."""
    root = (settings.data_dir / BLOB_DIR).resolve()
    store = _stores.get(root)
    if store is None:
        store = _stores[root] = LocalDirectoryStore(root)
    return store


async def delete_blobs(settings: Settings, keys: Iterable[str | None]) -> int:
    """Delete the named blobs (``None`` entries skipped); returns how many existed. A failure
    is logged with the count only (keys name no person) and does not raise: the caller's
    commit already happened."""
    store = blob_store(settings)
    deleted = 0
    for key in keys:
        if not key:
            continue
        try:
            deleted += await store.delete(key)
        except OSError:
            log.warning("A blob could not be deleted; its data key is destroyed already.")
    return deleted
