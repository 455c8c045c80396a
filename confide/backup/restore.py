"""``confide backup verify`` and ``confide backup restore``.

Both open a backup the same way: the manifest is opened first (authenticated under the backup's
key: a wrong or missing key fails here, clearly), then the data blob is streamed through the
manifest's per-chunk SHA-256 check (naming the chunk that changed), the chunk authentication of
the sealed stream, and decompression, straight into the target: a SQLite file written beside
the target and renamed over it only once complete, or ``pg_restore --single-transaction``. A
restore killed at any point leaves the target as it was (SQLite) or rolled back (PostgreSQL),
and running it again completes it. A restore refuses, having changed nothing, while a server or
worker uses the target (``confide.core.db_use``).

``restore`` then re-applies the erasure journal from the backup's journal head on
(``confide.privacy.reapply``), so nothing erased or deleted by retention after the backup comes
back, and records ``backup.restore`` in the restored database. ``verify`` restores into a
temporary database (on PostgreSQL tables and rows only: no indexes or constraints, which is
most of a full restore's time and not what is checked) and checks the manifest, the erasure
journal against its anchor, the row counts, the key-store copy (``keystore_copy``) and every
audit chain, and reports the first failure in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from confide.audit.ledger import record
from confide.audit.verify import all_chains, verify_chain
from confide.backup import pg_load, sealing, snapshot
from confide.backup.actions import ProgressReport, no_progress, private_tmp, store_of
from confide.backup.keystore_copy import check_keys_needed, open_key_store_copy
from confide.core.db import Database
from confide.core.db_use import sole_use
from confide.core.errors import BackupInvalid, KeyUnavailable, SealedStreamCorrupt
from confide.privacy.journal import anchored_head
from confide.privacy.reapply import ReapplyReport, reapply_journal
from confide.privacy.vault import SEALED_KEY_TABLES, sealed_key_ids

if TYPE_CHECKING:
    from confide.runtime import Runtime


# Records per read while walking a restored audit chain.
AUDIT_BATCH_SIZE = 10_000
AUDIT_WALK_INDEX = "CREATE INDEX audit_walk ON audit_events (workspace_id, seq, id)"
# Restored first on PostgreSQL, so the chains are walked while the other tables load.
AUDIT_TABLES = ("audit_events", "audit_heads", "audit_checkpoints")


@dataclass(frozen=True)
class VerifyResult:
    """``problem``: the first failure in one line (None when the backup is sound)."""

    backup_id: str
    problem: str | None
    tables: int = 0
    rows: int = 0
    chains: int = 0
    keystore: str = ""  # what was checked of the key-store copy


async def open_manifest(rt: Runtime, backup_id: str) -> dict[str, Any]:
    store = store_of(rt)
    try:
        sealed = b"".join([c async for c in store.read(f"{backup_id}/manifest.cfs")])
    except (FileNotFoundError, ValueError) as exc:
        raise BackupInvalid(f"Backup {backup_id}: no such backup in {store.root}.") from exc
    try:
        return await sealing.open_manifest(rt.keyring, backup_id, sealed)
    except KeyUnavailable as exc:
        raise BackupInvalid(
            f"Backup {backup_id}: its key is not in this key store (the backup was pruned, "
            "belongs to another installation, or the master key is not the one it was made "
            "with); nothing in it can be opened."
        ) from exc
    except SealedStreamCorrupt as exc:
        raise BackupInvalid(
            f"Backup {backup_id}: the manifest does not authenticate (altered, or the wrong key)."
        ) from exc


async def check_journal(rt: Runtime, backup_id: str, manifest: dict[str, Any]) -> None:
    """The live erasure journal must hold, still contain the entry the backup was taken at
    (same hash), and reach the newest entry anchored in the live database's audit ledger
    (``confide.privacy.journal.anchored_head``): otherwise erasures since could be missing
    and a restore would resurrect them. Raises ``BackupInvalid``."""
    store = rt.keyring.store
    broken = await store.verify_journal()
    if broken is not None:
        raise BackupInvalid(
            f"Backup {backup_id}: the erasure journal is broken at entry {broken}; restoring "
            "could bring erased people back, so nothing was restored."
        )
    seq = int(manifest["journal_seq"])
    if seq:
        entries = await store.journal_entries(seq - 1)
        if not entries or entries[0].seq != seq or entries[0].hash != manifest["journal_hash"]:
            raise BackupInvalid(
                f"Backup {backup_id}: the erasure journal no longer holds entry {seq} as it was "
                "when the backup was taken (another key store, or the journal was rewritten)."
            )
    anchor = await anchored_head(rt)
    if anchor is not None:
        head_seq, _ = await store.journal_head()
        held = await store.journal_entries(anchor[0] - 1) if head_seq >= anchor[0] else []
        if not held or held[0].seq != anchor[0] or held[0].hash != anchor[1]:
            raise BackupInvalid(
                f"Backup {backup_id}: the erasure journal ends at entry {head_seq} but the audit "
                f"ledger anchors entry {anchor[0]} (its newest entries were removed, or the key "
                "store is an older copy); restoring could bring erased people back, so nothing "
                "was restored."
            )


async def _plain(
    rt: Runtime, backup_id: str, manifest: dict[str, Any], progress: ProgressReport
) -> AsyncIterator[bytes]:
    total = int(manifest.get("sealed_bytes", 0)) or None
    blob = store_of(rt).read(f"{backup_id}/data.cfs")
    frames = sealing.checked_frames(
        blob, list(manifest["chunks"]), lambda d: progress("read", d, total)
    )
    async for chunk in sealing.decompress(
        sealing.open_backup_stream(rt.keyring, backup_id, frames)
    ):
        yield chunk


async def _load(
    rt: Runtime,
    backup_id: str,
    manifest: dict[str, Any],
    target_url: str,
    progress: ProgressReport,
    *,
    verifying: bool = False,
    loaded: Callable[[Sequence[str]], None] = lambda tables: None,
) -> snapshot.SnapshotFacts:
    """Put the backup's snapshot into ``target_url`` and read its facts back. ``verifying``:
    the PostgreSQL scratch database gets tables and rows only, by passes at once (the audit
    tables first), ``loaded`` called with each pass's tables as it finishes
    (``pg_load.pg_restore_for_verify``)."""
    if manifest["backend"] != ("sqlite" if target_url.startswith("sqlite") else "postgres"):
        raise BackupInvalid(
            f"Backup {backup_id} is a {manifest['backend']} backup; restore it into a "
            f"{manifest['backend']} database."
        )
    try:
        if target_url.startswith("sqlite"):
            target = snapshot.sqlite_path(target_url)
            partial = target.with_name(target.name + ".restoring")
            try:
                await snapshot.write_file(partial, _plain(rt, backup_id, manifest, progress))
                facts = snapshot.sqlite_facts(partial)
                _remove(target, "-wal", "-shm")
                os.replace(partial, target)
            finally:
                # Nothing of ours is left beside the target: after a failure not the partial
                # file either (it holds the backup's data in clear). A killed run leaves it,
                # and the next one overwrites it.
                _remove(partial, "", "-wal", "-shm")
            return facts
        if verifying:
            return await pg_load.pg_restore_for_verify(
                target_url,
                lambda whole: _plain(rt, backup_id, manifest, progress if whole else no_progress),
                AUDIT_TABLES,
                loaded,
                manifest["row_counts"],
            )
        await pg_load.pg_restore(target_url, _plain(rt, backup_id, manifest, progress))
        target_db = Database(target_url)
        try:
            return await pg_load.pg_facts(target_db)
        finally:
            await target_db.dispose()
    except SealedStreamCorrupt as exc:
        where = f"chunk {exc.chunk_index}" if exc.chunk_index >= 0 else "the end"
        raise BackupInvalid(f"Backup {backup_id}: {where} is corrupt: {exc}") from exc


def _remove(path: Path, *suffixes: str) -> None:
    for suffix in suffixes:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _compare(backup_id: str, manifest: dict[str, Any], facts: snapshot.SnapshotFacts) -> None:
    if facts.schema_version != manifest.get("schema_version"):
        raise BackupInvalid(
            f"Backup {backup_id}: schema version {facts.schema_version} after restoring, "
            f"{manifest.get('schema_version')} in the manifest."
        )
    expected: dict[str, int] = manifest["row_counts"]
    for table in sorted(set(expected) | set(facts.row_counts)):
        found, wanted = facts.row_counts.get(table), expected.get(table)
        if found != wanted:
            raise BackupInvalid(
                f"Backup {backup_id}: table {table} has {found} rows after restoring, "
                f"{wanted} in the manifest."
            )


async def verify_backup(
    rt: Runtime, backup_id: str, progress: ProgressReport = no_progress
) -> VerifyResult:
    """Restore into a temporary database and check it; never raises for a bad backup (the
    result's ``problem`` says what is wrong, in one line)."""
    try:
        manifest = await open_manifest(rt, backup_id)
        await check_journal(rt, backup_id, manifest)
        if rt.db.is_sqlite:
            with private_tmp(rt) as tmp:
                url = f"sqlite+aiosqlite:///{Path(tmp) / 'verify.db'}"
                return await _verify_into(rt, backup_id, manifest, url, progress)
        async with pg_load.pg_scratch(rt.db.url) as url:
            return await _verify_into(rt, backup_id, manifest, url, progress)
    except BackupInvalid as exc:
        return VerifyResult(backup_id, str(exc))


async def _verify_into(
    rt: Runtime, backup_id: str, manifest: dict[str, Any], url: str, progress: ProgressReport
) -> VerifyResult:
    # The key-store copy is read while the data is restored, and on PostgreSQL the audit
    # chains are walked, and the keys the data needs read, as soon as their tables are in
    # (while the rest loads). Failures are reported in the order the checks are listed in
    # docs/operations.md, whatever finished first.
    restored = dataclasses.replace(rt, db=Database(url))
    audit_in = asyncio.Event()
    keys_read: list[asyncio.Task[set[str]]] = []

    def loaded(tables: Sequence[str]) -> None:
        if set(tables) & set(AUDIT_TABLES):
            audit_in.set()
        if set(tables) & SEALED_KEY_TABLES:
            keys_read.append(asyncio.create_task(_key_ids(restored, tables)))

    copy_read = asyncio.create_task(open_key_store_copy(rt, backup_id, manifest))
    chains_walked = asyncio.create_task(_audit_chains(restored, backup_id, progress, audit_in))
    try:
        try:
            facts = await _load(
                rt, backup_id, manifest, url, progress, verifying=True, loaded=loaded
            )
            audit_in.set()  # SQLite: the whole file is in (or a dump without audit tables)
            if restored.db.is_sqlite:
                loaded(sorted(SEALED_KEY_TABLES))
            _compare(backup_id, manifest, facts)
            progress("keystore", 0, None)
            copy = await copy_read
            needed = set().union(*[await task for task in keys_read])
            keys = await check_keys_needed(rt, backup_id, copy, needed)
            chains = await chains_walked
        finally:
            for task in (copy_read, chains_walked):
                # SQLite: a walk cancelled midway may still be closing its file (in its driver
                # thread) while the temporary directory is removed; let it finish instead.
                walking = task is chains_walked and audit_in.is_set()
                if not task.done() and not (walking and restored.db.is_sqlite):
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, BackupInvalid):
                    await task
            for reading in keys_read:
                reading.cancel()
            await asyncio.gather(*keys_read, return_exceptions=True)
    finally:
        await restored.db.dispose()
    rows = sum(facts.row_counts.values())
    return VerifyResult(backup_id, None, len(facts.row_counts), rows, chains, keys)


async def _key_ids(restored: Runtime, tables: Sequence[str]) -> set[str]:
    """The keys the sealed rows of ``tables`` (of the restored database) are under."""
    async with restored.db.session() as session:
        return await sealed_key_ids(session, tables)


async def _audit_chains(
    restored: Runtime, backup_id: str, progress: ProgressReport, loaded: asyncio.Event
) -> int:
    """Walk every audit chain of the restored database once ``loaded`` is set; returns how
    many. Raises ``BackupInvalid`` naming the first chain that fails."""
    await loaded.wait()
    if not restored.db.is_sqlite:
        # The scratch copy has no indexes (no post-data); without this one each page of the
        # walk would sort the whole chain again.
        async with restored.db.engine.connect() as conn:
            await conn.execute(text(AUDIT_WALK_INDEX))
            await conn.commit()
    chains = await all_chains(restored)
    for index, chain in enumerate(chains):
        progress("audit", index, len(chains))
        report = await verify_chain(restored, chain, batch_size=AUDIT_BATCH_SIZE)
        if report.problem is not None:
            name = "platform" if chain is None else f"workspace {chain}"
            raise BackupInvalid(
                f"Backup {backup_id}: the audit chain of the {name} fails: {report.problem.message}"
            )
    progress("audit", len(chains), len(chains))
    return len(chains)


async def do_restore_backup(
    rt: Runtime,
    backup_id: str,
    target_url: str | None = None,
    progress: ProgressReport = no_progress,
) -> ReapplyReport:
    """Restore the backup into ``target_url`` (default: the configured database), check its
    row counts, re-apply every erasure and retention deletion journaled after it, and record
    ``backup.restore`` there. Raises ``BackupInvalid``, or ``DatabaseInUse`` (nothing done)
    while a server or worker uses the target (``confide.core.db_use``)."""
    url = target_url or rt.db.url
    async with sole_use(url):
        manifest = await open_manifest(rt, backup_id)
        await check_journal(rt, backup_id, manifest)
        if url == rt.db.url:
            await rt.db.dispose()  # no handle of this process stays on the file replaced
        facts = await _load(rt, backup_id, manifest, url, progress)
        _compare(backup_id, manifest, facts)
        return await _reapply(rt, backup_id, manifest, url, progress)


async def _reapply(
    rt: Runtime, backup_id: str, manifest: dict[str, Any], url: str, progress: ProgressReport
) -> ReapplyReport:
    restored = dataclasses.replace(rt, db=Database(url))
    try:
        progress("journal", 0, None)
        report = await reapply_journal(restored, int(manifest["journal_seq"]))
        details = {
            "backup": backup_id,
            "journal_entries": report.entries,
            "people_erased_again": report.people,
            "conversations_deleted_again": report.conversations,
        }
        await record(
            restored, None, "backup.restore", resource=f"backup:{backup_id}", details=details
        )
    finally:
        await restored.db.dispose()
    return report
