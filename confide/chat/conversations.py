"""Conversation lifecycle: open, assign (manual or round-robin), transfer, close, reopen.

Each ``do_*`` owns its unit of work, checks the policy against the rows it locked, appends its
audit record in the same unit, and publishes events through the unit after the commit, so no
socket ever hears of a change that was rolled back and no change commits unrecorded.
:func:`open_conversation` is the one way a conversation comes into being (web chat, inbound
social/SMS, recorded calls).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import GroupMember, Operator, OperatorStatus, Role
from confide.access.policy import ConversationFacts, OperatorFacts, Principal
from confide.audit import ledger
from confide.chat import events, routing
from confide.chat.models import (
    Availability,
    Channel,
    Conversation,
    ConversationLifecycle,
    ConversationStatus,
    Visitor,
)
from confide.chat.visitors import subject_of
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, ValidationFailed
from confide.privacy import consent
from confide.privacy import settings as privacy_settings
from confide.privacy.requests import limits

if TYPE_CHECKING:
    from confide.runtime import Runtime


def facts_of(conversation: Conversation) -> ConversationFacts:
    return ConversationFacts(
        id=conversation.id,
        workspace_id=conversation.workspace_id,
        group_id=conversation.group_id,
        assignee_id=conversation.assignee_id,
        status=conversation.status.value,
        visitor_id=conversation.visitor_id,
        lifecycle=conversation.lifecycle.value,
        restricted=conversation.restricted,
        held=conversation.held,
    )


async def load_for(
    session: AsyncSession,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    lock: bool = False,
    access: policy.ConversationAccess = policy.ConversationAccess.WORK,
) -> Conversation:
    """The conversation if the policy lets ``principal`` work on it (or only read it, with
    ``access=READ``); otherwise *not found*."""
    conversation = await session.get(Conversation, conversation_id, with_for_update=lock)
    if conversation is None or not policy.can_work_conversation(principal, conversation, access):
        raise NotFound("No such conversation, or you may not see it.")
    return conversation


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


async def open_conversation(
    rt: Runtime,
    tx: UnitOfWork,
    *,
    workspace_id: uuid.UUID,
    visitor: Visitor,
    channel: Channel = Channel.WEB,
    group_id: uuid.UUID | None = None,
    external_thread: str | None = None,
    call_metadata: dict[str, Any] | None = None,
    visitor_context: dict[str, Any] | None = None,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> Conversation:
    """Create a conversation in ``tx``: in ``group_id`` (checked) or the workspace's first
    group; with its provider thread kept as a keyed hash plus a copy sealed under the
    conversation's key; closed at ``ended_at`` when given (a finished recording), otherwise
    waiting and routed to the next available agent. ``created`` (and ``assigned``) go out
    after the commit. Raises :class:`ValidationFailed` for a group of another workspace."""
    if group_id is not None:
        await routing.check_group(tx, workspace_id, group_id)
    else:
        group_id = await routing.default_group(tx, workspace_id)
    conversation = Conversation(
        workspace_id=workspace_id,
        visitor_id=visitor.id,
        channel=channel,
        group_id=group_id,
        call_metadata=call_metadata,
        external_thread_index=(
            rt.vault.thread_index(workspace_id, channel.value, external_thread)
            if external_thread is not None
            else None
        ),
    )
    # A person who restricted processing (GDPR Art. 18) stays hidden in new conversations too;
    # one who objected to engagement rules (Art. 21) keeps their browsing counts to themself.
    stopped = await limits.objections_of(tx, visitor.subject_id)
    conversation.restricted = await limits.is_restricted(tx, visitor.subject_id)
    if visitor_context and "engagement_rules" in stopped:
        visitor_context = {
            k: v for k, v in visitor_context.items() if k not in limits.ENGAGEMENT_CONTEXT
        }
    if started_at is not None:
        conversation.created_at = started_at
    if ended_at is not None:
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = ended_at
    tx.add(conversation)
    visitor.last_seen_at = utcnow()
    await tx.flush()
    if external_thread is not None:
        conversation.external_thread_sealed = await rt.vault.seal_thread(
            workspace_id, conversation.id, external_thread
        )
    if visitor_context:
        conversation.visitor_context = await rt.vault.seal_context(
            workspace_id, conversation.id, visitor_context
        )
    events.conversation_changed(tx, rt.broker, conversation, "created")
    await routing.route(rt, tx, conversation)
    return conversation


class Started(NamedTuple):
    conversation: Conversation
    resumed: bool  # the visitor's conversation already open on that channel, not a new one


async def do_start_conversation(
    rt: Runtime,
    principal: Principal,
    *,
    visitor_id: uuid.UUID,
    channel: Channel = Channel.WEB,
    group_id: uuid.UUID | None = None,
    call_metadata: dict[str, Any] | None = None,
    visitor_context: dict[str, Any] | None = None,
) -> Started:
    """A visitor (or an operator for them) starts a conversation, or gets back the one already
    open (waiting or open, active) on ``channel``: one chat a visitor at a time, so a reload or
    a script cannot fill the inbox with empty ones. Raises :class:`NotFound` for a visitor of
    another workspace, ``consent_required`` when the workspace asks for consent the visitor has
    not given (GDPR Art. 6(1)(a), 7), :class:`TooManyRequests` past
    ``conversations_per_visitor_per_hour`` new ones."""
    assert principal.workspace_id is not None
    if principal.kind == "visitor" and principal.visitor_id != visitor_id:
        raise Forbidden()
    async with rt.db.transaction() as tx:
        # The visitor's row lock orders two starts at once: the second finds the first's.
        visitor = await tx.get(Visitor, visitor_id, with_for_update=True)
        if visitor is None or visitor.workspace_id != principal.workspace_id:
            raise NotFound("No such visitor in this workspace.", field="visitor")
        if principal.kind == "visitor":
            await _require_chat_consent(tx, principal)
        # ix_conversations_visitor_id
        current = await tx.scalar(
            select(Conversation)
            .where(
                Conversation.visitor_id == visitor_id,
                Conversation.channel == channel,
                Conversation.status != ConversationStatus.CLOSED,
                Conversation.lifecycle == ConversationLifecycle.ACTIVE,
            )
            .order_by(Conversation.created_at.desc())
            .limit(1)
        )
        if current is not None:
            visitor.last_seen_at = utcnow()
            return Started(current, True)
        if principal.kind == "visitor":  # a second line behind the one per address
            wait = await rt.limiter.hit(
                f"conversation:{visitor_id}", rt.settings.conversations_per_visitor_per_hour, 3600
            )
            if wait:
                raise TooManyRequests(
                    "You started too many chats; try again later.",
                    headers={"Retry-After": str(wait)},
                )
        conversation = await open_conversation(
            rt,
            tx,
            workspace_id=principal.workspace_id,
            visitor=visitor,
            channel=channel,
            group_id=group_id,
            call_metadata=call_metadata,
            visitor_context=visitor_context,
        )
        return Started(conversation, False)


async def _require_chat_consent(session: AsyncSession, principal: Principal) -> None:
    """A workspace that requires consent stores nothing of a visitor who has not granted it."""
    assert principal.workspace_id is not None
    if (await privacy_settings.load(session, principal.workspace_id)).consent_required:
        await consent.require(session, principal, "chat")


async def _record(
    tx: UnitOfWork,
    rt: Runtime,
    principal: Principal | None,
    action: str,
    conversation: Conversation,
    details: dict[str, Any] | None = None,
) -> None:
    """Append the audit record of a change to ``conversation`` in the change's own unit."""
    await ledger.append(
        tx,
        rt,
        principal,
        action,
        subject_id=await subject_of(tx, conversation.visitor_id),
        resource=f"conversation:{conversation.id}",
        details=details,
    )


async def do_assign(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, operator_id: uuid.UUID | None
) -> Conversation:
    """Assign to ``operator_id``, or with ``None`` to the next available agent (round-robin).

    Agents may only take a conversation themselves, within their cap; admins and managers may
    assign anyone they manage, even past the cap (they are deciding, not the router).
    Raises :class:`NotFound`, :class:`Forbidden`, :class:`Conflict` (closed, nobody free)."""
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("The conversation is closed; reopen it first.")
        if operator_id is None:
            if conversation.group_id is None:
                raise ValidationFailed(
                    "The conversation has no group to route in.", field="operator_id"
                )
            operator_id = await routing.pick_round_robin(rt, tx, conversation.group_id)
            if operator_id is None:
                raise Conflict("No agent of this group is available with room for another chat.")
        else:
            target = await _operator_facts(tx, operator_id)
            if not policy.may_assign_to(principal, target, conversation.group_id):
                raise Forbidden(
                    "You may not assign this conversation to that operator.", field="operator_id"
                )
            if principal.role not in (Role.ADMIN, Role.MANAGER) and not (
                await routing.has_capacity(rt, tx, operator_id)
            ):
                raise Conflict("That agent already has the maximum number of open chats.")
        presence = await routing.presence_of(rt, tx, operator_id, lock=True)
        routing.assign(conversation, presence, operator_id)
        await tx.flush()
        await _record(
            tx, rt, principal, "conversation.assign", conversation, {"to": str(operator_id)}
        )
        events.conversation_changed(
            tx, rt.broker, conversation, "assigned", await routing.agent_card(rt, tx, operator_id)
        )
    return conversation


async def do_transfer(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    operator_id: uuid.UUID | None = None,
    group_id: uuid.UUID | None = None,
) -> Conversation:
    """Hand the conversation to an operator (see :func:`do_assign`) or a group's queue."""
    if (operator_id is None) == (group_id is None):
        raise ValidationFailed(
            "Transfer to either an operator_id or a group_id.", field="operator_id"
        )
    if operator_id is not None:
        return await do_assign(rt, principal, conversation_id, operator_id)
    assert group_id is not None
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("The conversation is closed; reopen it first.")
        await routing.check_group(tx, conversation.workspace_id, group_id)
        # check_group established that the group belongs to the conversation's workspace.
        if not policy.may_route_to_group(principal, group_id, conversation.workspace_id):
            raise Forbidden(field="group_id")
        conversation.group_id = group_id
        conversation.assignee_id = None
        conversation.status = ConversationStatus.WAITING
        await tx.flush()
        await _record(
            tx, rt, principal, "conversation.transfer", conversation, {"group": str(group_id)}
        )
        events.conversation_changed(tx, rt.broker, conversation, "transferred")
        await routing.route(rt, tx, conversation)
    return conversation


async def do_close(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> Conversation:
    """Close the conversation (idempotent) and give the freed agent the next waiting chat."""
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            return conversation
        freed = conversation.assignee_id
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = utcnow()
        await tx.flush()
        await _record(tx, rt, principal, "conversation.close", conversation)
        events.conversation_changed(tx, rt.broker, conversation, "closed")
        if freed is not None:
            await routing.fill_free_slots(rt, tx, freed)
        tx.on_commit(rt.relay.forget, conversation_id)  # transcripts off: nothing outlives it
    return conversation


async def do_reopen(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> Conversation:
    """Reopen a closed conversation (operators only). Raises :class:`Conflict` if not closed."""
    if principal.kind != "operator":
        raise Forbidden("Only operators reopen conversations; visitors start a new one.")
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is not ConversationStatus.CLOSED:
            raise Conflict("The conversation is not closed.")
        conversation.closed_at = None
        conversation.status = (
            ConversationStatus.OPEN if conversation.assignee_id else ConversationStatus.WAITING
        )
        await tx.flush()
        await _record(tx, rt, principal, "conversation.reopen", conversation)
        events.conversation_changed(tx, rt.broker, conversation, "reopened")
    return conversation


async def do_set_availability(
    rt: Runtime,
    principal: Principal,
    availability: Availability,
    max_concurrent_chats: int | None = None,
) -> dict[str, Any]:
    """Set the operator's own presence (and, for managers and admins, chat cap); becoming
    available hands them waiting chats. Returns ``{availability, max_concurrent_chats}``."""
    if (
        principal.kind != "operator"
        or principal.operator_id is None
        or principal.workspace_id is None
    ):
        raise Forbidden("Only workspace operators have a presence.")
    policy.authorize(principal, policy.Action.CONVERSATIONS_WORK)
    async with rt.db.transaction() as tx:
        presence = await routing.presence_of(rt, tx, principal.operator_id, lock=True)
        presence.availability = availability
        if max_concurrent_chats is not None:
            if principal.role is Role.AGENT:
                raise Forbidden(
                    "Ask a manager to change your chat limit.", field="max_concurrent_chats"
                )
            presence.max_concurrent_chats = max_concurrent_chats
        presence.updated_at = utcnow()
        await tx.flush()
        await ledger.append(
            tx,
            rt,
            principal,
            "operator.availability",
            resource=f"operator:{principal.operator_id}",
            details={
                "availability": availability.value,
                "max_concurrent_chats": presence.max_concurrent_chats,
            },
        )
        events.publish(
            tx,
            rt.broker,
            events.workspace_channel(principal.workspace_id),
            {
                "type": "presence",
                "operator_id": str(principal.operator_id),
                "availability": availability.value,
            },
        )
        if availability is Availability.AVAILABLE:
            await routing.fill_free_slots(rt, tx, principal.operator_id)
        return {
            "availability": presence.availability.value,
            "max_concurrent_chats": presence.max_concurrent_chats,
        }


async def requeue_conversations_of(rt: Runtime, tx: UnitOfWork, operator_id: uuid.UUID) -> int:
    """Put a removed operator's open conversations back in their group queues (and route
    them) inside ``tx``, so no visitor waits on someone who is gone. Returns how many."""
    # ix_conversations_assignee
    stranded = (
        await tx.scalars(
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
        await tx.flush()
        events.conversation_changed(tx, rt.broker, conversation, "requeued")
        await routing.route(rt, tx, conversation)
    return len(stranded)


async def do_requeue_conversations_of(rt: Runtime, operator_id: uuid.UUID) -> int:
    """:func:`requeue_conversations_of` in a unit of its own."""
    async with rt.db.transaction() as tx:
        return await requeue_conversations_of(rt, tx, operator_id)
