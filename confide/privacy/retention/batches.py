"""Taking conversations a batch at a time: the one keyset page that the retention run and bulk
delete walk their conversations with, each batch in one transaction of the caller's."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from confide.chat.models import Conversation
from confide.core.db import UnitOfWork


async def next_batch(
    tx: UnitOfWork, *where: Any, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The ids of at most ``limit`` conversations matching every clause of ``where`` whose id
    is greater than ``after`` (``None``: from the first), in id order, locked in ``tx``:
    ``SELECT id ... WHERE <where> AND id > :after ORDER BY id LIMIT :limit FOR UPDATE SKIP
    LOCKED``.

    Keyset, not offset: each batch starts where the previous one ended, over the conversations'
    primary key, so the last id is the whole cursor (the run stores it to resume) and rows the
    previous batch destroyed or moved out of ``where`` shift nothing. ``SKIP LOCKED`` (on
    PostgreSQL; SQLite has no row locks, one writer at a time, and SQLAlchemy leaves the clause
    out there): rows another worker's open batch has locked are passed over instead of waited
    for, so two workers never take the same batch and no conversation is handled twice."""
    query = select(Conversation.id).where(*where)
    if after is not None:
        query = query.where(Conversation.id > after)
    query = query.order_by(Conversation.id).limit(limit).with_for_update(skip_locked=True)
    return list((await tx.scalars(query)).all())
