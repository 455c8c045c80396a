"""The key store's restricted archive (``confide.crypto.keystore`` mixes this in): archive KEKs
and the data keys moved under them (``Keyring.archive_keys``). ``KeyStore.data_key`` never
looks here, so the normal read path cannot find an archived key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import InstrumentedAttribute

from confide.core.db import Database
from confide.crypto.keystore_keks import add_kek, keks_of, replace_kek_wrapping
from confide.crypto.keystore_schema import ArchivedDataKey, ArchiveKey, DataKey


class ArchiveRecords:
    db: Database

    if TYPE_CHECKING:

        async def _purge(self) -> None: ...

    # -- the restricted archive ---------------------------------------------------------

    async def archive_keys_of(self, workspace_id: str) -> dict[int, ArchiveKey]:
        return await keks_of(self.db, ArchiveKey, workspace_id)

    async def add_archive_key(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> bool:
        """Store an archive KEK version unless one exists (compare-and-set)."""
        return await add_kek(self.db, ArchiveKey, workspace_id, version, master_key_id, wrapped)

    async def replace_archive_key_wrapping(
        self, workspace_id: str, version: int, master_key_id: str, wrapped: bytes
    ) -> None:
        await replace_kek_wrapping(
            self.db, ArchiveKey, workspace_id, version, master_key_id, wrapped
        )

    async def delete_archive_key(self, workspace_id: str, version: int) -> None:
        async with self.db.transaction() as session:
            await session.execute(
                delete(ArchiveKey).where(
                    ArchiveKey.workspace_id == workspace_id, ArchiveKey.version == version
                )
            )
        await self._purge()

    async def data_keys_in(self, workspace_id: str, key_ids: list[str]) -> list[DataKey]:
        """The live data keys among ``key_ids`` that belong to ``workspace_id``."""
        async with self.db.session() as session:
            rows = await session.scalars(
                select(DataKey).where(DataKey.workspace_id == workspace_id, DataKey.id.in_(key_ids))
            )
            return list(rows.all())

    async def archived_data_key(self, key_id: str) -> ArchivedDataKey | None:
        async with self.db.session() as session:
            return await session.get(ArchivedDataKey, key_id)

    async def archived_data_keys_in(
        self, workspace_id: str, key_ids: list[str]
    ) -> list[ArchivedDataKey]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(ArchivedDataKey).where(
                    ArchivedDataKey.workspace_id == workspace_id, ArchivedDataKey.id.in_(key_ids)
                )
            )
            return list(rows.all())

    async def archived_data_keys_of(
        self, workspace_id: str, archive_version: int
    ) -> list[ArchivedDataKey]:
        async with self.db.session() as session:
            rows = await session.scalars(
                select(ArchivedDataKey).where(
                    ArchivedDataKey.workspace_id == workspace_id,
                    ArchivedDataKey.archive_version == archive_version,
                )
            )
            return list(rows.all())

    async def move_to_archive(
        self, workspace_id: str, archive_version: int, moves: list[tuple[str, int, bytes]]
    ) -> int:
        """Move data keys into the archive in one transaction: each ``(key id, KEK version it
        was read under, wrapped under the archive KEK)``. A key that was destroyed, moved or
        re-wrapped meanwhile is left alone. Returns how many keys moved."""

        def archived(key_id: str, wrapped: bytes) -> ArchivedDataKey:
            return ArchivedDataKey(
                id=key_id,
                workspace_id=workspace_id,
                archive_version=archive_version,
                wrapped=wrapped,
            )

        return await self._move_keys(DataKey, DataKey.kek_version, archived, workspace_id, moves)

    async def move_from_archive(
        self, workspace_id: str, kek_version: int, moves: list[tuple[str, int, bytes]]
    ) -> int:
        """The reverse of :meth:`move_to_archive`: each ``(key id, archive version it was read
        under, wrapped under the workspace KEK kek_version)``. Returns how many keys moved."""

        def live(key_id: str, wrapped: bytes) -> DataKey:
            return DataKey(
                id=key_id, workspace_id=workspace_id, kek_version=kek_version, wrapped=wrapped
            )

        return await self._move_keys(
            ArchivedDataKey, ArchivedDataKey.archive_version, live, workspace_id, moves
        )

    async def _move_keys(
        self,
        source: type[DataKey] | type[ArchivedDataKey],
        source_version: InstrumentedAttribute[int],
        moved_row: Callable[[str, bytes], DataKey | ArchivedDataKey],
        workspace_id: str,
        moves: list[tuple[str, int, bytes]],
    ) -> int:
        # Each key leaves ``source`` only if it is still there under the version it was read
        # under, and its new row is added in the same transaction: a key is never in both.
        moved = 0
        async with self.db.transaction() as session:
            for key_id, version, wrapped in moves:
                gone = await session.execute(
                    delete(source).where(
                        source.id == key_id,
                        source.workspace_id == workspace_id,
                        source_version == version,
                    )
                )
                if gone.rowcount == 1:  # type: ignore[attr-defined]
                    session.add(moved_row(key_id, wrapped))
                    moved += 1
        await self._purge()
        return moved

    async def rewrap_archived_data_key(
        self, key_id: str, old_version: int, new_version: int, wrapped: bytes
    ) -> None:
        async with self.db.transaction() as session:
            row = await session.get(ArchivedDataKey, key_id)
            if row is not None and row.archive_version == old_version:
                row.archive_version = new_version
                row.wrapped = wrapped
