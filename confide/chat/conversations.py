"""Conversation lifecycle: start, assign (manual or round-robin), transfer, close, reopen, rate.

Each ``do_*`` owns its transaction, checks the policy against the rows it locked, and publishes
events only after the commit, so no socket ever hears of a change that was rolled back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import Group, GroupMember, Operator, OperatorStatus, Role
from confide.access.policy import ConversationFacts, OperatorFacts, Principal
from confide.chat import events, routing
from confide.chat.models import (
    Availability,
    Channel,
    Conversation,
    ConversationStatus,
    Visitor,
)
from confide.core.clock import utcnow
from confide.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from confide.runtime import Runtime

ROUTE_BATCH = 20


@dataclass
class Outbox:
    """Events to publish once the transaction has committed."""

    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # Transcripts off: message events also held briefly by the live relay (realtime/relay.py).
    relayed: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)

    def add(self, channel: str, event: dict[str, Any]) -> None:
        self.items.append((channel, event))

    def conversation_changed(
        self, conversation: Conversation, change: str, agent: dict[str, Any] | None = None
    ) -> None:
        event = events.conversation_event(conversation, change, agent)
        self.add(events.workspace_channel(conversation.workspace_id), event)
        self.add(events.conversation_channel(conversation.id), event)

    async def publish(self, rt: Runtime) -> None:
        for conversation_id, event in self.relayed:
            await rt.relay.remember(conversation_id, event)
        for channel, event in self.items:
            await rt.broker.publish(channel, event)


def facts_of(conversation: Conversation) -> ConversationFacts:
    return ConversationFacts(
        workspace_id=conversation.workspace_id,
        group_id=conversation.group_id,
        assignee_id=conversation.assignee_id,
        status=conversation.status.value,
        visitor_id=conversation.visitor_id,
    )


async def load_for(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool = False
) -> Conversation:
    """The conversation if the policy lets ``principal`` work on it; otherwise *not found*."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=lock)
    if conversation is None or not policy.can_work_conversation(principal, facts_of(conversation)):
        raise NotFound("No such conversation, or you may not see it.")
    return conversation


async def agent_card(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID | None
) -> dict[str, Any] | None:
    """What a visitor may know of the agent: public profile only."""
    if operator_id is None:
        return None
    operator = await session.get(Operator, operator_id)
    if operator is None:
        return None
    profile = (
        await rt.vault.read_fields(
            session, [operator.subject_id], ["alias", "avatar_url", "job_title"]
        )
    )[operator.subject_id]
    return {"id": str(operator.id), **profile}


async def _operator_facts(session: AsyncSession, operator_id: uuid.UUID) -> OperatorFacts:
    operator = await session.get(Operator, operator_id)
    if operator is None or operator.status is not OperatorStatus.ACTIVE:
        raise ValidationFailed("That operator does not exist or was removed.", field="operator_id")
    groups = frozenset(
        (
            await session.scalars(
                select(GroupMember.group_id).where(GroupMember.operator_id == operator_id)
            )
        ).all()
    )
    return OperatorFacts(operator.id, operator.workspace_id, operator.role, groups)


async def _default_group(session: AsyncSession, workspace_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(Group.id)
        .where(Group.workspace_id == workspace_id)
        .order_by(Group.created_at, Group.id)
        .limit(1)
    )


async def _check_group(session: AsyncSession, workspace_id: uuid.UUID, group_id: uuid.UUID) -> None:
    group = await session.get(Group, group_id)
    if group is None or group.workspace_id != workspace_id:
        raise ValidationFailed("That group does not exist in this workspace.", field="group_id")


async def _route(
    rt: Runtime, session: AsyncSession, conversation: Conversation, outbox: Outbox
) -> None:
    if conversation.status is not ConversationStatus.WAITING or conversation.group_id is None:
        return
    operator_id = await routing.pick_round_robin(rt, session, conversation.group_id)
    if operator_id is None:
        return
    presence = await routing.presence_of(rt, session, operator_id, lock=True)
    routing.assign(conversation, presence, operator_id)
    await session.flush()
    outbox.conversation_changed(
        conversation, "assigned", await agent_card(rt, session, operator_id)
    )


async def do_start_conversation(
    rt: Runtime,
    principal: Principal,
    *,
    visitor_id: uuid.UUID,
    channel: Channel = Channel.WEB,
    group_id: uuid.UUID | None = None,
    call_metadata: dict[str, Any] | None = None,
    visitor_context: dict[str, Any] | None = None,
) -> Conversation:
    assert principal.workspace_id is not None
    if principal.kind == "visitor" and principal.visitor_id != visitor_id:
        raise Forbidden()
    outbox = Outbox()
    async with rt.db.transaction() as session:
        visitor = await session.get(Visitor, visitor_id)
        if visitor is None or visitor.workspace_id != principal.workspace_id:
            raise NotFound("No such visitor in this workspace.", field="visitor")
        if principal.kind == "visitor":
            await _require_chat_consent(session, principal)
        if group_id is not None:
            await _check_group(session, principal.workspace_id, group_id)
        else:
            group_id = await _default_group(session, principal.workspace_id)
        conversation = Conversation(
            workspace_id=principal.workspace_id,
            visitor_id=visitor_id,
            channel=channel,
            group_id=group_id,
            call_metadata=call_metadata,
            visitor_context=visitor_context or None,
        )
        session.add(conversation)
        visitor.last_seen_at = utcnow()
        await session.flush()
        outbox.conversation_changed(conversation, "created")
        await _route(rt, session, conversation, outbox)
    await outbox.publish(rt)
    return conversation


async def _require_chat_consent(session: AsyncSession, principal: Principal) -> None:
    """A workspace that requires consent stores nothing of a visitor who has not granted it."""
    from confide.privacy import consent
    from confide.privacy import settings as privacy_settings

    assert principal.workspace_id is not None
    if (await privacy_settings.load(session, principal.workspace_id)).consent_required:
        await consent.require(session, principal, "chat")


async def do_assign(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, operator_id: uuid.UUID | None
) -> Conversation:
    """Assign to ``operator_id``, or with ``None`` to the next available agent (round-robin).

    Agents may only take a conversation themselves, within their cap; admins and managers may
    assign anyone they manage, even past the cap (they are deciding, not the router)."""
    outbox = Outbox()
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("The conversation is closed; reopen it first.")
        if operator_id is None:
            if conversation.group_id is None:
                raise ValidationFailed(
                    "The conversation has no group to route in.", field="operator_id"
                )
            operator_id = await routing.pick_round_robin(rt, session, conversation.group_id)
            if operator_id is None:
                raise Conflict("No agent of this group is available with room for another chat.")
        else:
            target = await _operator_facts(session, operator_id)
            if not policy.may_assign_to(principal, target, conversation.group_id):
                raise Forbidden(
                    "You may not assign this conversation to that operator.", field="operator_id"
                )
            if principal.role not in (Role.ADMIN, Role.MANAGER) and not (
                await routing.has_capacity(rt, session, operator_id)
            ):
                raise Conflict("That agent already has the maximum number of open chats.")
        presence = await routing.presence_of(rt, session, operator_id, lock=True)
        routing.assign(conversation, presence, operator_id)
        await session.flush()
        outbox.conversation_changed(
            conversation, "assigned", await agent_card(rt, session, operator_id)
        )
    await outbox.publish(rt)
    return conversation


async def do_transfer(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    operator_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
) -> Conversation:
    if (operator_id is None) == (group_id is None):
        raise ValidationFailed(
            "Transfer to either an operator_id or a group_id.", field="operator_id"
        )
    if operator_id is not None:
        return await do_assign(rt, principal, conversation_id, operator_id)
    assert group_id is not None
    outbox = Outbox()
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("The conversation is closed; reopen it first.")
        await _check_group(session, conversation.workspace_id, group_id)
        if not policy.may_route_to_group(principal, group_id):
            raise Forbidden(field="group_id")
        conversation.group_id = group_id
        conversation.assignee_id = None
        conversation.status = ConversationStatus.WAITING
        await session.flush()
        outbox.conversation_changed(conversation, "transferred")
        await _route(rt, session, conversation, outbox)
    await outbox.publish(rt)
    return conversation


async def do_close(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> Conversation:
    outbox = Outbox()
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            return conversation
        freed = conversation.assignee_id
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = utcnow()
        await session.flush()
        outbox.conversation_changed(conversation, "closed")
        if freed is not None:
            await _fill_free_slots(rt, session, freed, outbox)
    await outbox.publish(rt)
    await rt.relay.forget(conversation_id)  # transcripts off: nothing outlives the chat
    return conversation


async def do_reopen(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> Conversation:
    if principal.kind != "operator":
        raise Forbidden("Only operators reopen conversations; visitors start a new one.")
    outbox = Outbox()
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        if conversation.status is not ConversationStatus.CLOSED:
            raise Conflict("The conversation is not closed.")
        conversation.closed_at = None
        conversation.status = (
            ConversationStatus.OPEN if conversation.assignee_id else ConversationStatus.WAITING
        )
        await session.flush()
        outbox.conversation_changed(conversation, "reopened")
    await outbox.publish(rt)
    return conversation


async def _fill_free_slots(
    rt: Runtime, session: AsyncSession, operator_id: uuid.UUID, outbox: Outbox
) -> None:
    """An operator gained room (a chat closed, or they became available): hand them the oldest
    waiting conversations of their groups, up to their cap."""
    presence = await routing.presence_of(rt, session, operator_id, lock=True)
    if presence.availability is not Availability.AVAILABLE:
        return
    operator = await session.get(Operator, operator_id)
    if (
        operator is None
        or operator.workspace_id is None
        or operator.status is not OperatorStatus.ACTIVE
    ):
        return
    group_ids = (
        await session.scalars(
            select(GroupMember.group_id).where(GroupMember.operator_id == operator_id)
        )
    ).all()
    room = presence.max_concurrent_chats - await routing.open_chat_count(session, operator_id)
    for group_id in group_ids:
        if room <= 0:
            break
        for conversation in await routing.waiting_in_group(
            session, operator.workspace_id, group_id, min(room, ROUTE_BATCH)
        ):
            routing.assign(conversation, presence, operator_id)
            room -= 1
            await session.flush()
            outbox.conversation_changed(
                conversation, "assigned", await agent_card(rt, session, operator_id)
            )


async def do_set_availability(
    rt: Runtime,
    principal: Principal,
    availability: Availability,
    max_concurrent_chats: int | None = None,
) -> dict[str, Any]:
    if (
        principal.kind != "operator"
        or principal.operator_id is None
        or principal.workspace_id is None
    ):
        raise Forbidden("Only workspace operators have a presence.")
    policy.authorize(principal, policy.Action.CONVERSATIONS_WORK)
    outbox = Outbox()
    async with rt.db.transaction() as session:
        presence = await routing.presence_of(rt, session, principal.operator_id, lock=True)
        presence.availability = availability
        if max_concurrent_chats is not None:
            if principal.role is Role.AGENT:
                raise Forbidden(
                    "Ask a manager to change your chat limit.", field="max_concurrent_chats"
                )
            presence.max_concurrent_chats = max_concurrent_chats
        presence.updated_at = utcnow()
        await session.flush()
        outbox.add(
            events.workspace_channel(principal.workspace_id),
            {
                "type": "presence",
                "operator_id": str(principal.operator_id),
                "availability": availability.value,
            },
        )
        if availability is Availability.AVAILABLE:
            await _fill_free_slots(rt, session, principal.operator_id, outbox)
        result = {
            "availability": presence.availability.value,
            "max_concurrent_chats": presence.max_concurrent_chats,
        }
    await outbox.publish(rt)
    return result


async def do_rate(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, score: int, comment: str | None
) -> Conversation:
    from confide.chat.messages import append_message

    if principal.kind != "visitor":
        raise Forbidden("Only the visitor rates a conversation.")
    if not 1 <= score <= 5:
        raise ValidationFailed("Rate from 1 to 5.", field="score")
    outbox = Outbox()
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id, lock=True)
        if conversation.status is not ConversationStatus.CLOSED:
            raise Conflict("Rate the conversation after it is closed.")
        if conversation.csat_score is not None:
            raise Conflict("This conversation has already been rated.")
        conversation.csat_score = score
        if comment:
            await append_message(
                rt,
                session,
                conversation,
                principal,
                client_id=None,
                body=comment,
                kind="csat",
                outbox=outbox,
            )
        await session.flush()
        outbox.conversation_changed(conversation, "rated")
    await outbox.publish(rt)
    return conversation


async def do_requeue_conversations_of(rt: Runtime, operator_id: uuid.UUID) -> int:
    """Put a removed operator's open conversations back in their group queues (and route
    them), so no visitor waits on someone who is gone. Returns how many were requeued."""
    outbox = Outbox()
    async with rt.db.transaction() as session:
        # ix_conversations_assignee
        stranded = (
            await session.scalars(
                select(Conversation)
                .where(
                    Conversation.assignee_id == operator_id,
                    Conversation.status == ConversationStatus.OPEN,
                )
                .with_for_update()
            )
        ).all()
        for conversation in stranded:
            conversation.assignee_id = None
            conversation.status = ConversationStatus.WAITING
            await session.flush()
            outbox.conversation_changed(conversation, "requeued")
            await _route(rt, session, conversation, outbox)
    await outbox.publish(rt)
    return len(stranded)
