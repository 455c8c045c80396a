"""The key store: wrapped keys, kept in their own database apart from the data.

Why apart: a backup of the data carries no live key, so destroying a key here makes every copy
of that data unreadable, old backups included (crypto-shredding). Default: SQLite in
``data_dir/keys.db`` with ``secure_delete`` on, so a destroyed key's bytes are overwritten in
the file, not merely unlinked; on PostgreSQL (``CONFIDE_KEYSTORE_URL``), a separate database that
is vacuumed after every destruction. Either way ``destroy_data_key`` re-reads the store and
raises if any trace of the key remains.

Archived data keys (retention's restricted archive) live in their own table, wrapped under the
workspace's archive key-encryption key: ``data_key`` never returns one, so the normal read path
cannot find, let alone unwrap, an archived key (``confide.crypto.keyring``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from confide.core.db import Database
from confide.core.errors import KeyErased, KeyStillPresent, KeyUnavailable
from confide.core.id_lists import id_in
from confide.crypto.keystore_archive import ArchiveRecords
from confide.crypto.keystore_keks import add_kek, keks_of, replace_kek_wrapping
from confide.crypto.keystore_records import KeyRecords, tombstone_keys
from confide.crypto.keystore_schema import (
    ArchivedDataKey,
    ArchiveKey,
    DataKey,
    DestroyedKey,
    ErasureJournalEntry,
    KeyStoreBase,
    PendingEpoch,
    SigningKey,
    WorkspaceKey,
)
from confide.crypto.traces import find_traces

__all__ = [
    "ArchiveKey",
    "ArchivedDataKey",
    "DataKey",
    "DestroyedKey",
    "ErasureJournalEntry",
    "KeyStore",
    "KeyStoreBase",
    "SigningKey",
    "WorkspaceKey",
    "key_id_for",
]


class KeyStore(ArchiveRecords, KeyRecords):
    def __init__(self, url: str, *, pool_size: int = 30, max_overflow: int = 0) -> None:
        self.db = Database(url, secure_delete=True, pool_size=pool_size, max_overflow=max_overflow)
        self.path = url.split("///", 1)[1] if self.db.is_sqlite else None

    async def create_schema(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.run_sync(KeyStoreBase.metadata.create_all)

    async def close(self) -> None:
        await self.db.dispose()

    # -- workspace KEKs -----------------------------------------------------------------

    async def workspace_keys(self, workspace_id: str) -> dict[int, WorkspaceKey]:
        return await keks_of(self.db, WorkspaceKey, workspace_id)

    async def add_workspace_key(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> bool:
        """Store a KEK version unless one exists (compare-and-set); True if ours was stored."""
        return await add_kek(self.db, WorkspaceKey, workspace_id, version, master_key_id, wrapped)

    async def replace_workspace_key_wrapping(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> None:
        await replace_kek_wrapping(
            self.db, WorkspaceKey, workspace_id, version, master_key_id, wrapped
        )

    async def delete_workspace_key(self, workspace_id: str, version: int) -> bool:
        """Delete a KEK version unless a data key still names it (a node that created a key
        under it while a rotation ran): False then, and the caller re-wraps that one first."""
        async with self.db.transaction() as session:
            users = await session.scalar(
                select(func.count())
                .select_from(DataKey)
                .where(DataKey.workspace_id == workspace_id, DataKey.kek_version == version)
            )
            if users:
                return False
            await session.execute(
                delete(WorkspaceKey).where(
                    WorkspaceKey.workspace_id == workspace_id, WorkspaceKey.version == version
                )
            )
        await self._purge()
        return True

    async def all_workspace_ids(self) -> list[str]:
        async with self.db.session() as session:
            rows = await session.scalars(select(WorkspaceKey.workspace_id).distinct())
            return list(rows.all())

    # -- data keys ----------------------------------------------------------------------

    async def data_key(self, key_id: str) -> DataKey | None:
        async with self.db.session() as session:
            return await session.get(DataKey, key_id)

    async def add_data_key(
        self, key_id: str, workspace_id: str, kek_version: int, wrapped: bytes
    ) -> DataKey:
        """Compare-and-set: store this key unless another node stored one first, and return the
        key that is actually stored (never encrypt with a key that was not persisted).
        Raises ``KeyErased`` when the id was destroyed (tombstoned) before."""
        if await self.is_destroyed(key_id):
            raise KeyErased("This person's data was erased; nothing more is stored for them.")
        if await self.archived_data_key(key_id) is not None:
            raise KeyUnavailable("This data is archived; nothing new is stored under its key.")
        try:
            async with self.db.transaction() as session:
                session.add(
                    DataKey(
                        id=key_id,
                        workspace_id=workspace_id,
                        kek_version=kek_version,
                        wrapped=wrapped,
                    )
                )
        except IntegrityError:
            pass
        stored = await self.data_key(key_id)
        assert stored is not None
        return stored

    async def data_keys_of(self, workspace_id: str, kek_version: int) -> list[DataKey]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(DataKey).where(
                    DataKey.workspace_id == workspace_id, DataKey.kek_version == kek_version
                )
            )
            return list(rows.all())

    async def rewrap_data_keys(
        self, old_version: int, new_version: int, rewrapped: list[tuple[str, bytes]]
    ) -> None:
        """Store ``(key id, wrapped under new_version)`` pairs in one transaction; a key that
        is no longer under ``old_version`` (destroyed, archived) is left alone."""
        async with self.db.transaction() as session:
            for key_id, wrapped in rewrapped:
                await session.execute(
                    update(DataKey)
                    .where(DataKey.id == key_id, DataKey.kek_version == old_version)
                    .values(kek_version=new_version, wrapped=wrapped)
                )

    async def destroy_data_key(self, key_id: str) -> bool:
        """Delete a data key for good. Returns False if it did not exist; raises
        KeyStillPresent if any trace survives."""
        existing = await self.data_key(key_id)
        if existing is None:
            return False
        wrapped = existing.wrapped
        async with self.db.transaction() as session:
            await session.execute(delete(DataKey).where(DataKey.id == key_id))
        await self._purge()
        if await self.data_key(key_id) is not None or self._file_contains(wrapped):
            raise KeyStillPresent(f"Data key {key_id} survived its destruction.")
        return True

    async def is_destroyed(self, key_id: str) -> bool:
        async with self.db.session() as session:
            return await session.get(DestroyedKey, key_id) is not None

    async def destroy_data_keys(self, key_ids: list[str]) -> int:
        """Tombstone and delete many data keys in one transaction, then purge once (one
        ``secure_delete`` checkpoint or one VACUUM for the whole batch). Returns how many keys
        existed, archived ones included. Raises KeyStillPresent if a trace of any survives
        (SQLite file check)."""
        ids = sorted(set(key_ids))
        if not ids:
            return 0
        async with self.db.session() as session:
            # Plain rows, not ORM objects: (id, workspace id, wrapped bytes) per existing key.
            existing = {
                key_id: (workspace_id, wrapped)
                for table in (DataKey, ArchivedDataKey)
                for key_id, workspace_id, wrapped in (
                    await session.execute(
                        select(table.id, table.workspace_id, table.wrapped).where(
                            id_in(session, table.id, ids)
                        )
                    )
                ).all()
            }
        async with self.db.transaction() as session:
            await tombstone_keys(session, ids)
            # The next key epoch rotates the KEK of every workspace that lost a key here.
            workspaces = sorted({workspace_id for workspace_id, _ in existing.values()})
            await session.execute(
                delete(PendingEpoch).where(PendingEpoch.workspace_id.in_(workspaces))
            )
            session.add_all(PendingEpoch(workspace_id=ws) for ws in workspaces)
            await session.execute(delete(DataKey).where(id_in(session, DataKey.id, ids)))
            await session.execute(
                delete(ArchivedDataKey).where(id_in(session, ArchivedDataKey.id, ids))
            )
        await self._purge()
        # One scan of the file for the whole batch (``confide.crypto.traces``), in a thread:
        # reading and cutting megabytes must not stall the event loop's other work.
        survivors = await asyncio.to_thread(self._traces, existing)
        if survivors:
            # secure_delete zeroes deleted cells, but a large delete rebalances the b-tree and
            # can leave copies of moved cells in unused page space: rebuild the file.
            await self._vacuum()
            survivors = await asyncio.to_thread(self._traces, existing)
        if survivors:
            raise KeyStillPresent(f"Data key {survivors[0]} survived its destruction.")
        return len(existing)

    def _traces(self, rows: dict[str, tuple[str, bytes]]) -> list[str]:
        """Ids of ``rows`` (id: (workspace id, wrapped bytes)) whose wrapped bytes are still in
        the store's files (read once, and scanned once for the whole batch:
        ``confide.crypto.traces``)."""
        return find_traces({key: wrapped for key, (_, wrapped) in rows.items()}, self._file_bytes())

    async def _vacuum(self) -> None:
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            if self.db.is_sqlite:
                await conn.execute(text("VACUUM"))
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

    # -- signing keys -------------------------------------------------------------------

    async def signing_key(self, owner: str) -> SigningKey | None:
        async with self.db.session() as session:
            return await session.get(SigningKey, owner)

    async def add_signing_key(
        self, owner: str, public_key: bytes, sealed_private_key: str
    ) -> SigningKey:
        """Compare-and-set, like ``add_data_key``: returns the key pair actually stored."""
        try:
            async with self.db.transaction() as session:
                session.add(
                    SigningKey(
                        owner=owner, public_key=public_key, sealed_private_key=sealed_private_key
                    )
                )
        except IntegrityError:
            pass
        stored = await self.signing_key(owner)
        assert stored is not None
        return stored

    async def _purge(self) -> None:
        """Make deleted keys unrecoverable from the store's files."""
        async with self.db.engine.connect() as conn:
            if self.db.is_sqlite:
                # secure_delete zeroes freed pages; the checkpoint moves them out of the WAL.
                await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            else:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in ("data_keys", "workspace_keys", "archived_data_keys", "archive_keys"):
                    await conn.execute(text(f"VACUUM {table}"))

    def _file_bytes(self) -> list[bytes]:
        """The SQLite key store's file and WAL as bytes (nothing for PostgreSQL)."""
        if self.path is None:
            return []
        candidates = (Path(self.path + suffix) for suffix in ("", "-wal"))
        return [c.read_bytes() for c in candidates if c.exists()]

    def _file_contains(self, needle: bytes) -> bool:
        return any(needle in blob for blob in self._file_bytes())


def key_id_for(value: uuid.UUID) -> str:
    return str(value)
