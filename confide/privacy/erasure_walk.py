"""Walking the subject data map for an erasure: every reach of the given owners applied,
children first, and what it did counted in an ``ErasureReport``.

Why apart from ``confide.privacy.erasure``: this part names no table of its own (like
``confide.privacy.export_walk`` for exports). ``confide.privacy.subject_map`` says, for each
table, which owner (visitor, subject, conversation, message, operator, auth_session) reaches its
rows through which column and what erasure does to them; a table added to the map is erased
without touching this code. ``erasure`` decides whose owners, and in which units of work.
Tables are visited children first (the metadata's foreign-key order, reversed), so no delete
trips a foreign key. A batch's id list is bound as one parameter in every statement
(``confide.core.id_lists.id_in``), not one per id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import confide.models  # noqa: F401  (every table the subject map names is in the metadata)
from confide.core.db import Base
from confide.core.id_lists import id_in
from confide.privacy.subject_map import SUBJECT_MAP, Owner, reaches_of


@dataclass
class ErasureReport:
    """What one erasure did: ``rows`` deleted or changed per table, ``keys`` destroyed."""

    kind: str
    subject_id: uuid.UUID
    conversations: int = 0
    batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    keys: int = 0

    def count(self, table: str, n: int) -> None:
        if n:
            self.rows[table] = self.rows.get(table, 0) + n


def mapped_table(name: str) -> Table:
    """The table ``name`` of the metadata (a table the subject map names)."""
    return Base.metadata.tables[name]


def _order() -> dict[str, int]:
    """Children before parents: position of each table in reverse foreign-key order."""
    return {t.name: i for i, t in enumerate(reversed(Base.metadata.sorted_tables))}


async def apply_reaches(
    session: AsyncSession,
    owners: dict[Owner, Any],
    allowed: tuple[Owner, ...],
    report: ErasureReport,
) -> list[str]:
    """Apply every reach of the owners in ``allowed`` whose ids are known, children first.
    Returns the blob keys of the deleted rows, for the caller to delete after its commit."""
    order = _order()
    work = [
        (table, reach) for owner in allowed if owner in owners for table, reach in reaches_of(owner)
    ]
    work.sort(key=lambda item: order[item[0]])
    blobs: list[str] = []
    for table_name, reach in work:
        table = mapped_table(table_name)
        ids = owners[reach.owner]
        column = table.c[reach.column]
        # A list of ids is bound once (``id_in``); a subquery (a batch's messages) as is.
        where = id_in(session, column, ids) if isinstance(ids, list) else column.in_(ids)
        if reach.on_erase in ("delete_row", "shred_key"):
            blobs.extend(await _blob_keys(session, table, where))
            result = await session.execute(delete(table).where(where))
        elif reach.on_erase == "null_columns":
            values = {column: None for column in reach.null_columns}
            result = await session.execute(update(table).where(where).values(**values))
        else:  # keep_pseudonymised: the stub is handled by the caller, others stay as they are
            continue
        report.count(table_name, result.rowcount or 0)  # type: ignore[attr-defined]
    return blobs


async def _blob_keys(session: AsyncSession, table: Table, where: Any) -> list[str]:
    """The blob keys named by the rows about to be deleted (the map's ``blob_columns``)."""
    columns = SUBJECT_MAP[table.name].blob_columns
    if not columns:
        return []
    rows = await session.execute(select(*(table.c[c] for c in columns)).where(where))
    return [key for row in rows.all() for key in row if key]
