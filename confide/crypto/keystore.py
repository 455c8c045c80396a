"""The key store: wrapped keys, kept in their own database apart from the data.

Why apart: a backup of the data carries no live key, so destroying a key here makes every copy
of that data unreadable, old backups included (crypto-shredding). Default: SQLite in
``data_dir/keys.db`` with ``secure_delete`` on, so a destroyed key's bytes are overwritten in
the file, not merely unlinked; on PostgreSQL (``CONFIDE_KEYSTORE_URL``), a separate database that
is vacuumed after every destruction. Either way ``destroy_data_key`` re-reads the store and
raises if any trace of the key remains.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Integer, LargeBinary, MetaData, String, Text, delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import NAMING_CONVENTION, Database, UTCDateTime
from confide.core.errors import KeyErased, KeyStillPresent


class KeyStoreBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkspaceKey(KeyStoreBase):
    """A workspace's key-encryption key (KEK), wrapped by the master key. Versions rotate."""

    __tablename__ = "workspace_keys"

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataKey(KeyStoreBase):
    """A data key (DEK) for one subject or conversation, wrapped by a workspace KEK."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DestroyedKey(KeyStoreBase):
    """Tombstone of a destroyed data key: its id can never be created again, so a late
    writer (a socket of an erased visitor, another node) cannot re-create an erased
    subject's key and store new data under the same id (GDPR Art. 17)."""

    __tablename__ = "destroyed_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    destroyed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SigningKey(KeyStoreBase):
    """An Ed25519 key pair that signs something (``owner``: e.g. ``audit:<workspace id>``).

    The private half is sealed by the keyring under a data key of the workspace (see
    ``confide.audit.checkpoints``), so KEK rotation and master-key re-wrapping cover it like
    any other data key; the public half is kept in clear to verify without unsealing.
    """

    __tablename__ = "signing_keys"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KeyStore:
    def __init__(self, url: str) -> None:
        self.db = Database(url, secure_delete=True)
        self.path = url.split("///", 1)[1] if self.db.is_sqlite else None

    async def create_schema(self) -> None:
        async with self.db.engine.begin() as conn:
            await conn.run_sync(KeyStoreBase.metadata.create_all)

    async def close(self) -> None:
        await self.db.dispose()

    # -- workspace KEKs -----------------------------------------------------------------

    async def workspace_keys(self, workspace_id: str) -> dict[int, WorkspaceKey]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(WorkspaceKey).where(WorkspaceKey.workspace_id == workspace_id)
            )
            return {row.version: row for row in rows.all()}

    async def add_workspace_key(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> bool:
        """Store a KEK version unless one exists (compare-and-set); True if ours was stored."""
        try:
            async with self.db.transaction() as session:
                session.add(
                    WorkspaceKey(
                        workspace_id=workspace_id,
                        version=version,
                        master_key_id=master_key_id,
                        wrapped=wrapped,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def replace_workspace_key_wrapping(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> None:
        async with self.db.transaction() as session:
            row = await session.get(WorkspaceKey, (workspace_id, version))
            if row is not None:
                row.master_key_id = master_key_id
                row.wrapped = wrapped

    async def delete_workspace_key(self, workspace_id: str, version: int) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(WorkspaceKey).where(
                    WorkspaceKey.workspace_id == workspace_id, WorkspaceKey.version == version
                )
            )
        await self._purge()

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

    async def rewrap_data_key(
        self, key_id: str, old_version: int, new_version: int, wrapped: bytes
    ) -> None:
        async with self.db.transaction() as session:
            row = await session.get(DataKey, key_id)
            if row is not None and row.kek_version == old_version:
                row.kek_version = new_version
                row.wrapped = wrapped

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
        existed. Raises KeyStillPresent if a trace of any survives (SQLite file check)."""
        ids = sorted(set(key_ids))
        if not ids:
            return 0
        async with self.db.session() as session:
            existing = list(
                (await session.scalars(select(DataKey).where(DataKey.id.in_(ids)))).all()
            )
            known = set(
                (
                    await session.scalars(select(DestroyedKey.id).where(DestroyedKey.id.in_(ids)))
                ).all()
            )
        async with self.db.transaction() as session:
            session.add_all(DestroyedKey(id=key_id) for key_id in ids if key_id not in known)
            await session.execute(delete(DataKey).where(DataKey.id.in_(ids)))
        await self._purge()
        if self._traces(existing):
            # secure_delete zeroes deleted cells, but a large delete rebalances the b-tree and
            # can leave copies of moved cells in unused page space: rebuild the file.
            await self._vacuum()
        survivors = self._traces(existing)
        if survivors:
            raise KeyStillPresent(f"Data key {survivors[0]} survived its destruction.")
        return len(existing)

    def _traces(self, rows: list[DataKey]) -> list[str]:
        """Ids of ``rows`` whose wrapped bytes are still in the store's files (read once)."""
        files = self._file_bytes()
        return [row.id for row in rows if any(row.wrapped in blob for blob in files)]

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
                await conn.execute(text("VACUUM data_keys"))
                await conn.execute(text("VACUUM workspace_keys"))

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
