"""Audit test helpers: fill a chain, and tamper with it the way someone with database access
would (plain UPDATE and DELETE statements, no Confide code in between)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update

from confide import audit
from confide.audit.ledger import Actor
from confide.audit.models import AuditEvent
from confide.runtime import Runtime


async def fill_chain(
    rt: Runtime, workspace_id: uuid.UUID, count: int, subject_id: uuid.UUID | None = None
) -> list[AuditEvent]:
    actor = Actor("operator", uuid.uuid4(), workspace_id)
    subject = subject_id or uuid.uuid4()
    return [
        await audit.record(
            rt,
            actor,
            "conversation.read",
            subject_id=subject,
            resource=f"conversation:{uuid.uuid4()}",
            details={"n": n},
        )
        for n in range(1, count + 1)
    ]


async def tamper(rt: Runtime, workspace_id: uuid.UUID, at_seq: int, **values: Any) -> None:
    async with rt.db.transaction() as session:
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq == at_seq)
            .values(**values)
        )


async def delete_record(rt: Runtime, workspace_id: uuid.UUID, seq: int) -> None:
    async with rt.db.transaction() as session:
        await session.execute(
            delete(AuditEvent).where(AuditEvent.workspace_id == workspace_id, AuditEvent.seq == seq)
        )


async def swap_seq(rt: Runtime, workspace_id: uuid.UUID, first: int, second: int) -> None:
    """Swap two records' places (through a free seq: the pair is unique)."""
    await tamper(rt, workspace_id, first, seq=-1)
    await tamper(rt, workspace_id, second, seq=first)
    await tamper(rt, workspace_id, -1, seq=second)


async def chain(rt: Runtime, workspace_id: uuid.UUID | None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if workspace_id is None:
        query = query.where(AuditEvent.workspace_id.is_(None))
    else:
        query = query.where(AuditEvent.workspace_id == workspace_id)
    async with rt.db.session() as session:
        return list((await session.scalars(query)).all())
