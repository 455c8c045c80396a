"""Read paths of the chat: inbox lists and conversation details, filtered by the policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, or_, select

from confide.access import policy
from confide.access.policy import Principal
from confide.chat import events
from confide.chat.conversations import agent_card, load_for
from confide.chat.models import Conversation, ConversationStatus
from confide.chat.visitors import visitor_profiles
from confide.runtime import Runtime

LIST_LIMIT = 100


def scoped(query: Select[Any], principal: Principal) -> Select[Any]:
    """Apply ``policy.conversation_scope`` in SQL (it must agree with can_work_conversation)."""
    scope = policy.conversation_scope(principal)
    query = query.where(Conversation.workspace_id == principal.workspace_id)
    if scope.nothing:
        return query.where(false())
    if scope.whole_workspace:
        return query
    if scope.visitor_id is not None:
        return query.where(Conversation.visitor_id == scope.visitor_id)
    in_groups: ColumnElement[bool] = Conversation.group_id.in_(scope.group_ids)
    if scope.groups_waiting_only:
        in_groups = and_(in_groups, Conversation.status == ConversationStatus.WAITING)
    return query.where(or_(in_groups, Conversation.assignee_id == scope.assignee_id))


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
    async with rt.db.session() as session:
        rows = list((await session.scalars(query)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [events.conversation_facts(c) for c in rows]
    if principal.kind == "operator" and rows:
        profiles = await visitor_profiles(rt, [c.visitor_id for c in rows])
        for item, conversation in zip(items, rows, strict=True):
            item["visitor"] = profiles.get(conversation.visitor_id)
    return {"conversations": items, "has_more": has_more}


async def conversation_detail(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        data = events.conversation_facts(conversation)
        data["agent"] = await agent_card(rt, session, conversation.assignee_id)
        data["call_metadata"] = conversation.call_metadata
    if principal.kind == "operator":
        data["visitor"] = (await visitor_profiles(rt, [conversation.visitor_id])).get(
            conversation.visitor_id
        )
        # What the widget knew when the chat started (page, language, ...): for the agent.
        data["visitor_context"] = conversation.visitor_context
    return data
