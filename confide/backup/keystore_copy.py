"""Putting a key-store copy back (``confide backup restore-keys``).

A backup's ``keystore/<id>.cfs`` holds the key store's rows (wrapped keys, tombstones; no key in
clear) sealed under a key that the master key wraps (``confide.backup.actions``). It opens only
while the master-key epoch it was made under still exists: after the next key epoch (which
follows any erasure, ``confide.crypto.epochs``) it cannot be opened, which is what keeps an old
key-store copy from undoing an erasure.

``confide backup verify`` checks the copy too (:func:`open_key_store_copy`, while the data is
being restored, then :func:`check_keys_needed`): its SHA-256 and row counts against the
manifest, that it opens, and that every key the backup's sealed rows need is in it or
accounted for as destroyed.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from confide.audit.ledger import record
from confide.backup import sealing
from confide.backup.actions import KEY_TABLES, store_of
from confide.core.errors import (
    BackupInvalid,
    KeyStoreCopyRetired,
    KeyUnavailable,
    SealedStreamCorrupt,
)
from confide.crypto import streams
from confide.crypto.keystore import KeyStore

if TYPE_CHECKING:
    from confide.runtime import Runtime

KEYSTORE_BACKUP_CONTEXT = b"keystore-backup"
LIVE_KEY_TABLES = ("data_keys", "archived_data_keys")
RETIRED = "retired by a key epoch since (by design it no longer opens)"


async def _table_rows(
    rt: Runtime, backup_id: str
) -> AsyncIterator[tuple[str, list[str], list[list[Any]]]]:
    """The copy's rows in batches: ``(table, columns, rows)``, each row a list of JSON values
    in the order of ``columns``. Raises ``KeyStoreCopyRetired``, ``SealedStreamCorrupt`` and
    ``BackupInvalid`` (no header, a malformed line)."""
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
        raise KeyStoreCopyRetired(
            f"Backup {backup_id}: its key-store copy was made under a master key that has been "
            "destroyed since (a key epoch followed an erasure); by design it cannot be opened."
        ) from exc

    async def sealed() -> AsyncIterator[bytes]:
        yield bytes(buffer)
        async for more in blob:
            yield more

    pending = ""
    table: str | None = None
    columns: list[str] = []
    text = codecs.getincrementaldecoder("utf-8")()
    async for plain in sealing.decompress(streams.open_stream(key, sealed(), b"keystore")):
        pending += text.decode(plain)
        *lines, pending = pending.split("\n")
        rows: list[list[Any]] = []
        for item in _parsed(lines):
            if isinstance(item, dict):  # a table's header line
                if rows:
                    yield str(table), columns, rows
                table, columns, rows = item["table"], item["columns"], []
            elif table is not None and isinstance(item, list) and len(item) == len(columns):
                rows.append(item)
            else:
                raise BackupInvalid(f"Backup {backup_id}: the key-store copy is malformed.")
        if rows:
            yield str(table), columns, rows


def _parsed(lines: list[str]) -> list[Any]:
    """The JSON values of ``lines``, parsed as one array (one call rather than one per line);
    line by line when that does not give one value per line."""
    try:
        items = json.loads(f"[{','.join(lines)}]")
        if isinstance(items, list) and len(items) == len(lines):
            return items
    except ValueError:
        pass
    return [json.loads(line) for line in lines]


async def _rows(rt: Runtime, backup_id: str) -> AsyncIterator[dict[str, Any]]:
    """Each row of the copy as a dict of its columns and ``table``."""
    async for table, columns, rows in _table_rows(rt, backup_id):
        for row in rows:
            yield {"table": table, **dict(zip(columns, row, strict=True))}


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


@dataclass
class KeyStoreCopy:
    """What :func:`open_key_store_copy` read: rows per table, the ids of the data keys in it
    (live or archived) and of its tombstones; ``retired`` when it no longer opens by design."""

    rows: dict[str, int] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    tombstoned: set[str] = field(default_factory=set)
    retired: bool = False


async def open_key_store_copy(
    rt: Runtime, backup_id: str, manifest: dict[str, Any]
) -> KeyStoreCopy:
    """Read ``keystore/<id>.cfs`` for ``confide backup verify``: its SHA-256 and its row counts
    per table must match the manifest, every chunk authenticate, and it must hold the
    backup's own key. A copy made under a master-key epoch destroyed since cannot be opened
    by design: then only its SHA-256 is checked (``retired``). Raises ``BackupInvalid``
    naming the first failure."""
    recorded = manifest.get("keystore")
    if not isinstance(recorded, dict):
        raise BackupInvalid(
            f"Backup {backup_id}: its manifest records no key-store copy (an older format); "
            "take a new backup."
        )
    digest = hashlib.sha256()
    try:
        async for piece in store_of(rt).read(f"keystore/{backup_id}.cfs"):
            digest.update(piece)
    except FileNotFoundError as exc:
        raise BackupInvalid(f"Backup {backup_id}: its key-store copy is missing.") from exc
    if digest.hexdigest() != recorded["sha256"]:
        raise BackupInvalid(
            f"Backup {backup_id}: the key-store copy does not match its SHA-256 in the manifest "
            "(altered, cut short or replaced)."
        )
    copy = KeyStoreCopy()
    try:
        async for table, columns, rows in _table_rows(rt, backup_id):
            # Verify reads the copy while it feeds pg_restore from the same event loop: one
            # decompressed piece (a few thousand rows) at a time, not to stall the feeding.
            await asyncio.sleep(0)
            copy.rows[table] = copy.rows.get(table, 0) + len(rows)
            if table in LIVE_KEY_TABLES or table == "destroyed_keys":
                index = columns.index("id")
                ids = copy.live if table in LIVE_KEY_TABLES else copy.tombstoned
                ids.update(row[index] for row in rows)
    except SealedStreamCorrupt as exc:
        raise BackupInvalid(
            f"Backup {backup_id}: the key-store copy is corrupt at chunk {exc.chunk_index}."
        ) from exc
    except KeyStoreCopyRetired:
        return KeyStoreCopy(retired=True)
    for table in sorted(set(copy.rows) | set(recorded["rows"])):
        found, wanted = copy.rows.get(table, 0), recorded["rows"].get(table, 0)
        if found != wanted:
            raise BackupInvalid(
                f"Backup {backup_id}: the key-store copy has {found} {table} rows, "
                f"{wanted} in the manifest."
            )
    if str(sealing.backup_key_id(backup_id)) not in copy.live:
        raise BackupInvalid(f"Backup {backup_id}: the key-store copy lacks the backup's own key.")
    return copy


async def check_keys_needed(
    rt: Runtime, backup_id: str, copy: KeyStoreCopy, needed: Iterable[str]
) -> str:
    """Every key id in ``needed`` (the keys the backup's sealed rows are under) must be in the
    copy, live or archived, or tombstoned in it or in the live erasure journal (skipped for a
    retired copy). Returns what was checked, for the report; raises ``BackupInvalid``."""
    if copy.retired:
        return f"key-store copy {RETIRED}"
    missing = [key for key in needed if key not in copy.live and key not in copy.tombstoned]
    if missing:
        journaled = {
            key
            for entry in await rt.keyring.store.journal_entries()
            for key in json.loads(entry.key_ids)
        }
        missing = sorted(key for key in missing if key not in journaled)
    if missing:
        raise BackupInvalid(
            f"Backup {backup_id}: the key-store copy has no key {missing[0]} that the backup's "
            f"data is sealed under, and no erasure accounts for it ({len(missing)} such key(s))."
        )
    return f"key-store copy: {sum(copy.rows.values())} rows, {len(copy.live)} data keys"
