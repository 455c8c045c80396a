"""Conversations for operators (console) and visitor identification for the host's backend."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep
from confide.api.schemas import (
    AssignRequest,
    LimitParam,
    MessageSend,
    PresenceUpdate,
    SeqParam,
    TransferRequest,
    VisitorIdentify,
)
from confide.chat import conversations, messages, queries, visitors
from confide.chat.models import Availability, Conversation, ConversationStatus
from confide.runtime import Runtime

router = APIRouter(tags=["conversations"])


@router.get("/conversations")
async def list_conversations(
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
    status: Literal["waiting", "open", "closed"] | None = None,
    group_id: uuid.UUID | None = None,
    visitor_id: uuid.UUID | None = None,
    before: AwareDatetime | None = None,
    limit: LimitParam = 50,
    label_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    page = await queries.list_conversations(
        rt,
        principal,
        status=ConversationStatus(status) if status else None,
        group_id=group_id,
        visitor_id=visitor_id,
        before=before,
        limit=limit,
        label_id=label_id,
    )
    return page


@router.get("/conversations/{conversation_id}")
async def read_conversation(
    conversation_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.get("/conversations/{conversation_id}/messages")
async def read_messages(
    conversation_id: uuid.UUID,
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
    since: SeqParam = 0,
    limit: LimitParam = 100,
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return await messages.list_messages(rt, principal, conversation_id, since=since, limit=limit)


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def send_message(
    conversation_id: uuid.UUID, body: MessageSend, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    sent = await messages.do_send_message(
        rt, principal, conversation_id, client_id=body.client_id, body=body.body
    )
    return {"message": sent.message, "duplicate": sent.duplicate}


@router.post("/conversations/{conversation_id}/assign")
async def assign(
    conversation_id: uuid.UUID, body: AssignRequest, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    conversation = await conversations.do_assign(rt, principal, conversation_id, body.operator_id)
    return await _detail_or_outcome(rt, principal, conversation)


@router.post("/conversations/{conversation_id}/transfer")
async def transfer(
    conversation_id: uuid.UUID, body: TransferRequest, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    conversation = await conversations.do_transfer(
        rt, principal, conversation_id, operator_id=body.operator_id, group_id=body.group_id
    )
    return await _detail_or_outcome(rt, principal, conversation)


async def _detail_or_outcome(
    rt: Runtime, principal: Principal, conversation: Conversation
) -> dict[str, Any]:
    if policy.can_work_conversation(principal, conversations.facts_of(conversation)):
        return await queries.conversation_detail(rt, principal, conversation.id)
    # Handed to someone or a queue the caller may not see: report the outcome only.
    return {"id": str(conversation.id), "status": conversation.status.value, "handed_over": True}


@router.post("/conversations/{conversation_id}/close")
async def close(
    conversation_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    await conversations.do_close(rt, principal, conversation_id)
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.post("/conversations/{conversation_id}/reopen")
async def reopen(
    conversation_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    await conversations.do_reopen(rt, principal, conversation_id)
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.put("/me/presence")
async def set_presence(
    body: PresenceUpdate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await conversations.do_set_availability(
        rt, principal, Availability(body.availability), body.max_concurrent_chats
    )


@router.post("/visitors/identify")
async def identify_visitor(
    body: VisitorIdentify, request: Request, principal: PrincipalDep, rt: RuntimeDep
) -> dict[str, str]:
    """The host site's backend (API key) attaches identity to a visitor by VUID."""
    policy.authorize(principal, Action.VISITORS_IDENTIFY)
    assert principal.workspace_id is not None
    visitor_id = await visitors.do_identify_visitor(
        rt,
        principal,
        principal.workspace_id,
        vuid=body.vuid,
        fields=body.model_dump(exclude_unset=True, exclude={"vuid"}),
    )
    return {"visitor_id": str(visitor_id), "status": "identified"}
