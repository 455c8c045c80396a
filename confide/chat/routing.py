"""Routing: presence, caps on concurrent chats, and round-robin assignment from group queues.

Public helpers for every way a conversation enters a queue (web chat, inbound social/SMS,
recorded calls): :func:`default_group`, :func:`check_group`, :func:`route` (hand a waiting
conversation to the next agent) and :func:`fill_free_slots` (an agent gained room). Events go
out through the caller's unit of work, after its commit.

Round-robin picks, among the group's active members who are *available* and under their cap,
the one assigned longest ago (never-assigned first). The chosen operator's presence row is
locked for the rest of the transaction (``FOR UPDATE`` on PostgreSQL; SQLite serialises
writers anyway), so two nodes routing at once cannot both push the same agent over the cap.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Group, GroupMember, Operator, OperatorStatus, Role
from confide.chat import events
from confide.chat.models import Availability, Conversation, ConversationStatus, OperatorPresence
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime

ASSIGNABLE_ROLES = (Role.ADMIN, Role.MANAGER, Role.AGENT)
ROUTE_BATCH = 20


async def presence_of(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID, *, lock: bool = False
) -> OperatorPresence:
    presence = await session.get(OperatorPresence, operator_id, with_for_update=lock)
    if presence is None:
        presence = OperatorPresence(
            operator_id=operator_id,
            availability=Availability.AWAY,
            max_concurrent_chats=rt.settings.default_max_concurrent_chats,
        )
        session.add(presence)
        await session.flush()
    return presence


async def open_chat_count(session: AsyncSession, operator_id: uuid.UUID) -> int:
    # ix_conversations_assignee
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(
                Conversation.assignee_id == operator_id,
                Conversation.status == ConversationStatus.OPEN,
            )
        )
        or 0
    )


async def has_capacity(rt: Runtime, session: AsyncSession, operator_id: uuid.UUID) -> bool:
    presence = await presence_of(rt, session, operator_id, lock=True)
    return await open_chat_count(session, operator_id) < presence.max_concurrent_chats


async def pick_round_robin(
    rt: Runtime, session: AsyncSession, group_id: uuid.UUID
) -> uuid.UUID | None:
    """The next available operator of the group with room for one more chat, or ``None``."""
    open_counts = (
        select(Conversation.assignee_id, func.count().label("open_chats"))
        .where(Conversation.status == ConversationStatus.OPEN)
        .group_by(Conversation.assignee_id)
        .subquery()
    )
    candidates = (
        select(OperatorPresence.operator_id)
        .join(GroupMember, GroupMember.operator_id == OperatorPresence.operator_id)
        .join(Operator, Operator.id == OperatorPresence.operator_id)
        .outerjoin(open_counts, open_counts.c.assignee_id == OperatorPresence.operator_id)
        .where(
            GroupMember.group_id == group_id,
            OperatorPresence.availability == Availability.AVAILABLE,
            Operator.status == OperatorStatus.ACTIVE,
            Operator.role.in_(ASSIGNABLE_ROLES),
            func.coalesce(open_counts.c.open_chats, 0) < OperatorPresence.max_concurrent_chats,
        )
        .order_by(
            OperatorPresence.last_assigned_at.is_not(None),
            OperatorPresence.last_assigned_at,
            OperatorPresence.operator_id,
        )
    )
    for operator_id in (await session.scalars(candidates)).all():
        # Re-check under the row lock: another node may have filled the last slot.
        if await has_capacity(rt, session, operator_id):
            return operator_id
    return None


def assign(conversation: Conversation, presence: OperatorPresence, operator_id: uuid.UUID) -> None:
    now = utcnow()
    conversation.assignee_id = operator_id
    conversation.status = ConversationStatus.OPEN
    conversation.assigned_at = now
    presence.last_assigned_at = now


async def waiting_in_group(
    session: AsyncSession, workspace_id: uuid.UUID, group_id: uuid.UUID, limit: int
) -> list[Conversation]:
    # ix_conversations_inbox
    query = (
        select(Conversation)
        .where(
            and_(
                Conversation.workspace_id == workspace_id,
                Conversation.status == ConversationStatus.WAITING,
                Conversation.group_id == group_id,
            )
        )
        .order_by(Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def default_group(session: AsyncSession, workspace_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace's first group (by creation), where conversations without one wait."""
    return await session.scalar(
        select(Group.id)
        .where(Group.workspace_id == workspace_id)
        .order_by(Group.created_at, Group.id)
        .limit(1)
    )


async def check_group(session: AsyncSession, workspace_id: uuid.UUID, group_id: uuid.UUID) -> None:
    """Raises :class:`ValidationFailed` (``group_id``) unless the group is the workspace's."""
    group = await session.get(Group, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise ValidationFailed("That group does not exist in this workspace.", field="group_id")


async def agent_card(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID | None
) -> dict[str, Any] | None:
    """What a visitor may know of the agent: public profile only (id, alias, avatar, title);
    ``None`` for no such operator. Served from the process's cache when it holds it
    (``confide.chat.agent_cards``)."""
    if operator_id is None:
        return None
    cached, card = rt.agent_cards.get(operator_id)
    if cached:
        return card
    snapshot = rt.agent_cards.snapshot()
    operator = await session.get(Operator, operator_id)
    if operator is None:
        card = None
    else:
        profile = (
            await rt.vault.read_fields(
                session, [operator.subject_id], ["alias", "avatar_url", "job_title"]
            )
        )[operator.subject_id]
        card = {"id": str(operator.id), **profile}
    rt.agent_cards.store(snapshot, operator_id, card)
    return card


async def route(rt: Runtime, tx: UnitOfWork, conversation: Conversation) -> None:
    """Hand a waiting conversation to the next available agent of its group, if any."""
    if conversation.status is not ConversationStatus.WAITING or conversation.group_id is None:
        return
    operator_id = await pick_round_robin(rt, tx, conversation.group_id)
    if operator_id is None:
        return
    presence = await presence_of(rt, tx, operator_id, lock=True)
    assign(conversation, presence, operator_id)
    await tx.flush()
    events.conversation_changed(
        tx, rt.broker, conversation, "assigned", await agent_card(rt, tx, operator_id)
    )


async def fill_free_slots(rt: Runtime, tx: UnitOfWork, operator_id: uuid.UUID) -> None:
    """An operator gained room (a chat closed, or they became available): hand them the oldest
    waiting conversations of their groups, up to their cap."""
    presence = await presence_of(rt, tx, operator_id, lock=True)
    if presence.availability is not Availability.AVAILABLE:
        return
    operator = await tx.get(Operator, operator_id)
    if (
        operator is None
        or operator.workspace_id is None
        or operator.status is not OperatorStatus.ACTIVE
    ):
        return
    group_ids = (
        await tx.scalars(select(GroupMember.group_id).where(GroupMember.operator_id == operator_id))
    ).all()
    room = presence.max_concurrent_chats - await open_chat_count(tx, operator_id)
    for group_id in group_ids:
        if room <= 0:
            break
        for conversation in await waiting_in_group(
            tx, operator.workspace_id, group_id, min(room, ROUTE_BATCH)
        ):
            assign(conversation, presence, operator_id)
            room -= 1
            await tx.flush()
            events.conversation_changed(
                tx, rt.broker, conversation, "assigned", await agent_card(rt, tx, operator_id)
            )
