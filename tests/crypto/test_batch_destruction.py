"""Destroying a large batch of data keys leaves no trace of them in the key store's files,
even when the delete rebalances the store's b-tree (cells moved between pages)."""

from __future__ import annotations

import uuid
from pathlib import Path

from confide.runtime import Runtime


async def test_a_batch_of_destroyed_keys_leaves_no_bytes_in_the_key_store(
    rt: Runtime, data_dir: Path
) -> None:
    workspace_id = uuid.uuid4()
    for _ in range(3):  # the shape of three erasures of subjects with 200 conversations
        ids = [uuid.uuid4() for _ in range(201)]
        kept = [uuid.uuid4() for _ in range(201)]  # another subject's, created meanwhile
        for key_id in [k for pair in zip(ids, kept, strict=True) for k in pair]:
            await rt.keyring.encrypt(workspace_id, key_id, "text", f"t:{key_id}")
        wrapped = [(await rt.keyring.store.data_key(str(k))).wrapped for k in ids]  # type: ignore[union-attr]
        assert await rt.keyring.destroy_many([str(k) for k in ids]) == len(ids)
        files = [p.read_bytes() for p in data_dir.glob("keys.db*") if p.is_file()]
        assert not [w for w in wrapped if any(w in blob for blob in files)]
