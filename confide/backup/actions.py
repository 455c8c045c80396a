"""``confide backup create|list|prune`` as actions, and the daily backup job.

Layout under ``backups_dir`` (a ``LocalDirectoryStore``; default beside ``data_dir``, never in it):

    <id>/data.cfs          the snapshot (SQLite file or pg_dump -Fc), gzip, sealed in chunks
    <id>/manifest.cfs      sealed JSON: time, backend, schema version, row counts per table,
                           SHA-256 per sealed chunk, the erasure journal's head at backup time,
                           the key-store copy's SHA-256 and row counts per table
    keystore/<id>.cfs      the key store's rows (wrapped keys, tombstones, the erasure journal;
                           never a clear key), sealed under a random key that the master key
                           wraps (header line); written before the manifest, which records it

``<id>`` is the UTC time and a random suffix (``20261130T141500Z-3fa9c1``), so names sort by age.
The data's key is a platform data key in the key store (``confide.backup.sealing``), never
stored beside the backup; pruning destroys it. Restore and verify: ``confide.backup.restore``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.audit.ledger import record
from confide.backup import sealing, snapshot
from confide.core.clock import utcnow
from confide.core.storage import BlobInfo, LocalDirectoryStore
from confide.crypto import streams
from confide.crypto.keystore import (
    ArchivedDataKey,
    ArchiveKey,
    DataKey,
    DestroyedKey,
    ErasureJournalEntry,
    SigningKey,
    WorkspaceKey,
)
from confide.crypto.providers import KEY_BYTES
from confide.jobs.kinds import DAY_SECONDS, Batch, BatchResult, JobKind, register
from confide.privacy.models import WorkspacePrivacySettings

if TYPE_CHECKING:
    from confide.runtime import Runtime

FORMAT = "confide-backup/1"
EXPORT_LINES_PER_PIECE = 2000
# Reports progress: (step, bytes or pages done, total when known).
ProgressReport = Callable[[str, int, int | None], None]
KEY_TABLES = (
    WorkspaceKey,
    ArchiveKey,
    DataKey,
    ArchivedDataKey,
    DestroyedKey,
    SigningKey,
    ErasureJournalEntry,
)


@dataclass(frozen=True)
class BackupSummary:
    """One backup as ``list`` shows it (from the blob store, without opening anything)."""

    backup_id: str
    created_at: datetime
    size_bytes: int


def store_of(rt: Runtime) -> LocalDirectoryStore:
    return LocalDirectoryStore(rt.settings.resolved_backups_dir)


@contextmanager
def private_tmp(rt: Runtime) -> Iterator[str]:
    """A temporary directory (0700) under ``backups_dir/.tmp`` (0700), removed on exit: where a
    SQLite snapshot is copied (create) or restored (verify), never the shared ``/tmp``."""
    root = rt.settings.resolved_backups_dir / ".tmp"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        yield tmp


def _new_id() -> str:
    return f"{utcnow().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def created_at_of(backup_id: str) -> datetime:
    return datetime.strptime(backup_id.split("-", 1)[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def no_progress(step: str, done: int, total: int | None) -> None:
    return None


async def do_create_backup(rt: Runtime, progress: ProgressReport = no_progress) -> dict[str, Any]:
    """Take a consistent snapshot, store it compressed and sealed with its manifest, and back
    up the key store's wrapped keys beside it (under ``keystore/``). Recorded as
    ``backup.create``. Returns the manifest. Raises ``OSError`` when the disk refuses and
    ``RuntimeError`` when pg_dump fails (nothing is left half-written: blobs are atomic)."""
    store = store_of(rt)
    backup_id = _new_id()
    journal_seq, journal_hash = await rt.keyring.store.journal_head()
    hashes: list[str] = []
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "id": backup_id,
        "created_at": utcnow().isoformat(),
        "backend": "sqlite" if rt.db.is_sqlite else "postgres",
        "journal_seq": journal_seq,
        "journal_hash": journal_hash,
        "chunk_bytes": streams.CHUNK_BYTES,
        "compression": "gzip",
    }
    sealed_progress = lambda done: progress("seal", done, None)  # noqa: E731
    if rt.db.is_sqlite:
        with private_tmp(rt) as tmp:
            copy = Path(tmp) / "snapshot.db"
            source = snapshot.sqlite_path(rt.db.url)
            await asyncio.to_thread(
                snapshot.sqlite_snapshot, source, copy, lambda d, t: progress("snapshot", d, t)
            )
            facts = snapshot.sqlite_facts(copy)
            size = copy.stat().st_size
            chunks = snapshot.read_file(copy, lambda d: progress("read", d, size))
            sealed = sealing.seal_hashed(
                rt.keyring, backup_id, sealing.compress(chunks), hashes, sealed_progress
            )
            manifest["sealed_bytes"] = await store.put(f"{backup_id}/data.cfs", sealed)
    else:
        facts, dump = await snapshot.pg_facts_and_dump(rt.db)
        sealed = sealing.seal_hashed(
            rt.keyring, backup_id, sealing.compress(dump), hashes, sealed_progress
        )
        manifest["sealed_bytes"] = await store.put(f"{backup_id}/data.cfs", sealed)
    manifest.update(schema_version=facts.schema_version, row_counts=facts.row_counts, chunks=hashes)
    progress("keystore", 0, None)
    manifest["keystore"] = await _put_key_store_copy(rt, store, backup_id)
    sealed_manifest = await sealing.seal_manifest(rt.keyring, backup_id, manifest)
    await store.put(f"{backup_id}/manifest.cfs", _one(sealed_manifest))
    details = {"backup": backup_id, "sealed_bytes": manifest["sealed_bytes"], "chunks": len(hashes)}
    await record(rt, None, "backup.create", resource=f"backup:{backup_id}", details=details)
    return manifest


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put_key_store_copy(
    rt: Runtime, store: LocalDirectoryStore, backup_id: str
) -> dict[str, Any]:
    """Store ``keystore/<id>.cfs``; returns what the manifest records of it: ``sha256`` of
    the blob, ``sealed_bytes`` and ``rows`` per table (``confide backup verify`` checks all)."""
    rows: dict[str, int] = {}
    digest = hashlib.sha256()

    async def hashed() -> AsyncIterator[bytes]:
        async for piece in _export_key_store(rt, rows):
            digest.update(piece)
            yield piece

    size = await store.put(f"keystore/{backup_id}.cfs", hashed())
    return {"sha256": digest.hexdigest(), "sealed_bytes": size, "rows": rows}


async def _export_key_store(rt: Runtime, counts: dict[str, int]) -> AsyncIterator[bytes]:
    """The key store as JSON lines, sealed under a fresh key that the master key wraps; the
    first line (in clear) is that wrapping. Inside, each table is a line ``{"table", "columns"}``
    followed by one JSON array per row (bytes as ``{"b64": ...}``). Wrapped keys only: nothing in it
    opens without the master key, and after the next key epoch not even with it."""
    backup_key = secrets.token_bytes(KEY_BYTES)
    wrapped = rt.keyring.provider.wrap(backup_key, b"keystore-backup")  # keystore_copy reads it
    header = {
        "master_key_id": rt.keyring.provider.key_id,
        "key": base64.b64encode(wrapped).decode(),
    }
    yield json.dumps(header).encode() + b"\n"

    async def rows() -> AsyncIterator[bytes]:
        lines: list[str] = []
        async with rt.keyring.store.db.session() as session:  # one read snapshot
            for table in KEY_TABLES:
                name = table.__tablename__
                columns = [column.name for column in table.__table__.columns]
                lines.append(json.dumps({"table": name, "columns": columns}))
                result = await session.execute(select(*table.__table__.columns))
                count = 0
                for row in result:
                    count += 1
                    lines.append(json.dumps([_plain(value) for value in row]))
                    if len(lines) >= EXPORT_LINES_PER_PIECE:
                        yield ("\n".join(lines) + "\n").encode()
                        lines.clear()
                counts[name] = count
        if lines:
            yield ("\n".join(lines) + "\n").encode()

    async for piece in streams.seal_stream(backup_key, sealing.compress(rows()), b"keystore"):
        yield piece


def _plain(value: Any) -> Any:
    """A column value as JSON: bytes as ``{"b64": ...}``, times in ISO 8601."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def list_backups(rt: Runtime) -> list[BackupSummary]:
    """Every backup with a manifest, oldest first."""
    blobs: dict[str, BlobInfo] = {}
    sizes: dict[str, int] = {}
    for blob in await store_of(rt).list():
        if "/" not in blob.key or blob.key.startswith(("keystore/", ".")):
            continue
        backup_id, name = blob.key.split("/", 1)
        sizes[backup_id] = sizes.get(backup_id, 0) + blob.size_bytes
        if name == "manifest.cfs":
            blobs[backup_id] = blob
    return [
        BackupSummary(backup_id, created_at_of(backup_id), sizes[backup_id])
        for backup_id in sorted(blobs)
    ]


async def keep_days(rt: Runtime) -> int:
    """``backup_keep_days``, shortened to the shortest retention any workspace sets (a backup
    must not keep data longer than retention allows)."""
    days = rt.settings.backup_keep_days
    async with rt.db.session() as session:
        for row in (await session.scalars(select(WorkspacePrivacySettings))).all():
            days = min(
                days, row.connection_log_retention_days, *(row.retention_days or {}).values()
            )
    return max(days, 1)


async def do_prune_backups(rt: Runtime, *, now: datetime | None = None) -> list[str]:
    """Remove every backup older than :func:`keep_days` (its blobs, its key-store copy) and
    destroy its key, so copies of it elsewhere die too. Recorded as ``backup.prune`` (also
    when nothing was due). Returns the ids removed."""
    store = store_of(rt)
    days = await keep_days(rt)
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = []
    for backup in await list_backups(rt):
        if backup.created_at >= cutoff:
            continue
        for key in (
            f"{backup.backup_id}/data.cfs",
            f"{backup.backup_id}/manifest.cfs",
            f"keystore/{backup.backup_id}.cfs",
        ):
            await store.delete(key)
        await rt.keyring.destroy_many([str(sealing.backup_key_id(backup.backup_id))])
        removed.append(backup.backup_id)
    details = {"removed": removed, "keep_days": days}
    await record(rt, None, "backup.prune", resource="backups", details=details)
    return removed


async def _run_backup(batch: Batch) -> BatchResult:
    await do_create_backup(batch.rt)
    removed = await do_prune_backups(batch.rt)
    return BatchResult(items=1 + len(removed), cursor=None, done=True)


BACKUP = register(
    JobKind(
        name="backup",
        description="Daily encrypted backup, then prune backups past backup_keep_days.",
        run_batch=_run_backup,
        every_seconds=DAY_SECONDS,
        batch_size=1,
        max_attempts=3,
        in_transaction=False,
    )
)
