"""Read paths of the chat: inbox lists and conversation details, filtered by the policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Select, select

from confide.access import policy
from confide.access.policy import Principal
from confide.access.rules import ConversationColumns
from confide.chat import events
from confide.chat.archive_reads import archive_opened
from confide.chat.conversations import load_for
from confide.chat.models import Conversation, ConversationStatus
from confide.chat.routing import agent_card
from confide.chat.visitors import visitor_profiles

if TYPE_CHECKING:
    from confide.runtime import Runtime

LIST_LIMIT = 100
# The policy's rules read these columns (mypy cannot match a mapped class object against a
# protocol of column attributes, hence the cast).
COLUMNS = cast(ConversationColumns, Conversation)


def scoped(
    query: Select[Any],
    principal: Principal,
    access: policy.ConversationAccess = policy.ConversationAccess.READ,
) -> Select[Any]:
    """``query`` limited to the conversations ``principal`` may see: the policy's own rule as a
    WHERE clause (the same expression ``load_for`` evaluates for a single conversation)."""
    return query.where(policy.conversation_rule(principal, COLUMNS, access))


async def list_conversations(
    rt: Runtime,
    principal: Principal,
    *,
    status: ConversationStatus | None = None,
    group_id: uuid.UUID | None = None,
    visitor_id: uuid.UUID | None = None,
    before: datetime | None = None,
    limit: int = 50,
    label_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    limit = max(1, min(limit, LIST_LIMIT))
    # ix_conversations_inbox
    query = scoped(select(Conversation), principal)
    if status is not None:
        query = query.where(Conversation.status == status)
    if group_id is not None:
        query = query.where(Conversation.group_id == group_id)
    if visitor_id is not None:  # a visitor's past conversations (the console's visitor panel)
        query = query.where(Conversation.visitor_id == visitor_id)
    if before is not None:
        query = query.where(Conversation.created_at < before)
    if label_id is not None:
        from confide.chat.labels import label_filter

        query = query.where(label_filter(label_id))
    query = query.order_by(Conversation.created_at.desc(), Conversation.id).limit(limit + 1)
    async with rt.db.transaction() as tx:
        rows = list((await tx.scalars(query)).all())
        has_more = len(rows) > limit
        rows = rows[:limit]
        items = [events.conversation_facts(c) for c in rows]
        if principal.kind == "operator":
            # Each visitor as the policy lets this operator see them; one record naming every
            # visitor whose identity the list returned.
            profiles = await visitor_profiles(
                tx,
                rt,
                principal,
                {c.visitor_id: policy.visitor_view(principal, c) for c in rows},
                action="conversation.list",
                resource="conversations",
            )
            for item, conversation in zip(items, rows, strict=True):
                item["visitor"] = profiles.get(conversation.visitor_id)
    return {"conversations": items, "has_more": has_more}


async def conversation_detail(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    """One conversation as ``principal`` may see it; an operator's read is recorded
    (``conversation.read``, naming the visitor) before it is returned. Raises
    :class:`NotFound` when the policy does not let them see it."""
    async with rt.db.transaction() as tx:
        conversation = await load_for(
            tx, principal, conversation_id, access=policy.ConversationAccess.READ
        )
        data = events.conversation_facts(conversation)
        data["agent"] = await agent_card(rt, tx, conversation.assignee_id)
        data["call_metadata"] = conversation.call_metadata
        if principal.kind == "operator":
            data["visitor"] = (
                await visitor_profiles(
                    tx,
                    rt,
                    principal,
                    {conversation.visitor_id: policy.visitor_view(principal, conversation)},
                    action="conversation.read",
                    resource=f"conversation:{conversation.id}",
                )
            ).get(conversation.visitor_id)
            # What the widget knew when the chat started (page, language, ...): for the agent.
            with archive_opened(rt, conversation):  # a custodian's grant: archived keys
                data["visitor_context"] = await rt.vault.open_context(
                    conversation.workspace_id, conversation.id, conversation.visitor_context
                )
    return data
