"""Key-encryption key rows of the key store (``confide.crypto.keystore``): a workspace's KEKs
(``WorkspaceKey``) and its archive KEKs (``ArchiveKey``) have one shape (workspace, version,
master key id, wrapped key) and are read, added and re-wrapped the same way; the two stay
separate tables so that no read of one can return the other.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from confide.core.db import Database
from confide.crypto.keystore_schema import ArchiveKey, WorkspaceKey

Kek = TypeVar("Kek", WorkspaceKey, ArchiveKey)


async def keks_of(db: Database, table: type[Kek], workspace_id: str) -> dict[int, Kek]:
    """The workspace's KEK rows of ``table`` by version."""
    async with db.session() as session:
        rows = await session.scalars(select(table).where(table.workspace_id == workspace_id))
        return {row.version: row for row in rows.all()}


async def add_kek(
    db: Database,
    table: type[Kek],
    workspace_id: str,
    version: int,
    master_key_id: str,
    wrapped: bytes,
) -> bool:
    """Store a KEK version unless one exists (compare-and-set); True if ours was stored."""
    try:
        async with db.transaction() as session:
            session.add(
                table(
                    workspace_id=workspace_id,
                    version=version,
                    master_key_id=master_key_id,
                    wrapped=wrapped,
                )
            )
    except IntegrityError:
        return False
    return True


async def replace_kek_wrapping(
    db: Database,
    table: type[Kek],
    workspace_id: str,
    version: int,
    master_key_id: str,
    wrapped: bytes,
) -> None:
    """Store a KEK version wrapped anew (under master key ``master_key_id``), if it exists."""
    async with db.transaction() as session:
        row = await session.get(table, (workspace_id, version))
        if row is not None:
            row.master_key_id = master_key_id
            row.wrapped = wrapped
