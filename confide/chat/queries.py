"""Read paths of the chat: inbox lists and conversation details, filtered by the policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, select

from confide.access import policy
from confide.access.policy import Principal, VisitorView
from confide.access.rules import ConversationColumns
from confide.chat import events
from confide.chat.conversations import agent_card, load_for
from confide.chat.models import Conversation, ConversationStatus
from confide.chat.visitors import visitor_profiles
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
    query = query.order_by(Conversation.created_at.desc(), Conversation.id).limit(limit + 1)
    async with rt.db.session() as session:
        rows = list((await session.scalars(query)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    items = [events.conversation_facts(c) for c in rows]
    if principal.kind == "operator" and rows:
        views = [policy.visitor_view(principal, c) for c in rows]
        profiles: dict[tuple[VisitorView, uuid.UUID], dict[str, Any]] = {}
        for view in set(views):
            ids = [c.visitor_id for c, v in zip(rows, views, strict=True) if v is view]
            for visitor_id, profile in (await visitor_profiles(rt, ids, view)).items():
                profiles[view, visitor_id] = profile
        for item, conversation, view in zip(items, rows, views, strict=True):
            item["visitor"] = profiles.get((view, conversation.visitor_id))
    return {"conversations": items, "has_more": has_more}


async def conversation_detail(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> dict[str, Any]:
    async with rt.db.session() as session:
        conversation = await load_for(
            session, principal, conversation_id, access=policy.ConversationAccess.READ
        )
        data = events.conversation_facts(conversation)
        data["agent"] = await agent_card(rt, session, conversation.assignee_id)
        data["call_metadata"] = conversation.call_metadata
    if principal.kind == "operator":
        view = policy.visitor_view(principal, conversation)
        data["visitor"] = (await visitor_profiles(rt, [conversation.visitor_id], view)).get(
            conversation.visitor_id
        )
        # What the widget knew when the chat started (page, language, ...): for the agent.
        data["visitor_context"] = conversation.visitor_context
    return data
