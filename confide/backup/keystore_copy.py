"""Putting a key-store copy back (``confide backup restore-keys``).

A backup's ``keystore/<id>.cfs`` holds the key store's rows (wrapped keys, tombstones; no key in
clear) sealed under a key that the master key wraps (``confide.backup.actions``). It opens only
while the master-key epoch it was made under still exists: after the next key epoch (which
follows any erasure, ``confide.crypto.epochs``) it cannot be opened, which is what keeps an old
key-store copy from undoing an erasure.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from confide.audit.ledger import record
from confide.backup import sealing
from confide.backup.actions import KEY_TABLES, store_of
from confide.core.errors import BackupInvalid, KeyUnavailable, SealedStreamCorrupt
from confide.crypto import streams
from confide.crypto.keystore import KeyStore

if TYPE_CHECKING:
    from confide.runtime import Runtime

KEYSTORE_BACKUP_CONTEXT = b"keystore-backup"


async def _rows(rt: Runtime, backup_id: str) -> AsyncIterator[dict[str, Any]]:
    blob = store_of(rt).read(f"keystore/{backup_id}.cfs")
    buffer = bytearray()
    header: dict[str, Any] | None = None
    async for data in blob:
        buffer += data
        if b"\n" in buffer:
            line, _, remainder = bytes(buffer).partition(b"\n")
            header = json.loads(line)
            buffer = bytearray(remainder)
            break
    if header is None:
        raise BackupInvalid(f"Backup {backup_id}: the key-store copy has no header.")
    try:
        key = rt.keyring.provider.unwrap(
            base64.b64decode(header["key"]), KEYSTORE_BACKUP_CONTEXT, header["master_key_id"]
        )
    except KeyUnavailable as exc:
        raise BackupInvalid(
            f"Backup {backup_id}: its key-store copy was made under a master key that has been "
            "destroyed since (a key epoch followed an erasure); by design it cannot be opened."
        ) from exc

    async def sealed() -> AsyncIterator[bytes]:
        yield bytes(buffer)
        async for more in blob:
            yield more

    pending = b""
    async for plain in sealing.decompress(streams.open_stream(key, sealed(), b"keystore")):
        pending += plain
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield json.loads(line)


def _value(raw: Any) -> Any:
    if isinstance(raw, dict) and "b64" in raw:
        return base64.b64decode(raw["b64"])
    if isinstance(raw, str) and len(raw) >= 19 and raw[4] == "-" and raw[10] == "T":
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return raw
    return raw


async def do_restore_key_store(rt: Runtime, backup_id: str, target_url: str) -> dict[str, int]:
    """Write the backup's key-store rows into the key store at ``target_url`` (created if
    needed; rows already there are kept). Recorded as ``backup.restore_keys``. Returns the
    rows written per table. Raises ``BackupInvalid`` when the copy cannot be opened."""
    models = {model.__tablename__: model for model in KEY_TABLES}
    target = KeyStore(target_url)
    counts: dict[str, int] = {}
    try:
        await target.create_schema()
        async with target.db.transaction() as session:
            try:
                async for row in _rows(rt, backup_id):
                    table = row.pop("table")
                    await session.merge(models[table](**{k: _value(v) for k, v in row.items()}))
                    counts[table] = counts.get(table, 0) + 1
            except SealedStreamCorrupt as exc:
                raise BackupInvalid(
                    f"Backup {backup_id}: the key-store copy is corrupt at chunk {exc.chunk_index}."
                ) from exc
            except FileNotFoundError as exc:
                raise BackupInvalid(f"Backup {backup_id}: it has no key-store copy.") from exc
    finally:
        await target.close()
    details = {"backup": backup_id, "rows": counts}
    await record(rt, None, "backup.restore_keys", resource=f"backup:{backup_id}", details=details)
    return counts
