"""Whose data a resource is: the data subject an audit event names.

Routes know ids of operators, visitors and conversations; the ledger wants the person behind
them (a pseudonymous subject id), so that "who read my data?" is one indexed lookup.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from confide.access.models import Operator
from confide.chat.models import Conversation, Visitor
from confide.runtime import Runtime


async def of_operator(rt: Runtime, operator_id: uuid.UUID) -> uuid.UUID | None:
    async with rt.db.session() as session:
        return await session.scalar(select(Operator.subject_id).where(Operator.id == operator_id))


async def of_visitor(rt: Runtime, visitor_id: uuid.UUID) -> uuid.UUID | None:
    async with rt.db.session() as session:
        return await session.scalar(select(Visitor.subject_id).where(Visitor.id == visitor_id))


async def of_conversation(rt: Runtime, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """The visitor's subject: a conversation is about the person who started it."""
    async with rt.db.session() as session:
        return await session.scalar(
            select(Visitor.subject_id)
            .join(Conversation, Conversation.visitor_id == Visitor.id)
            .where(Conversation.id == conversation_id)
        )
