"""What the embeddable widget calls, authenticated by the visitor token it was given."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from confide.access.workspaces import check_slug
from confide.api.deps import RuntimeDep, VisitorDep, client_ip_key
from confide.api.schemas import (
    ConversationStart,
    CsatRequest,
    IdentityFields,
    LimitParam,
    MessageSend,
    ReopenRequest,
    SeqParam,
    TranscriptMailRequest,
)
from confide.chat import conversations, messages, offline, queries, transcript_mail, visitors
from confide.chat.models import Channel
from confide.core.errors import Conflict, MailFailed, TooManyRequests, ValidationFailed
from confide.privacy import connections
from confide.runtime import Runtime

router = APIRouter(prefix="/widget", tags=["widget"])


async def _limit_per_ip(request: Request, rt: Runtime, what: str) -> None:
    wait = await rt.limiter.hit(
        f"{what}:{client_ip_key(request, rt)}", rt.settings.conversations_per_ip_per_hour, 3600
    )
    if wait:
        raise TooManyRequests(
            "Too many new chats from this network; try again later.",
            headers={"Retry-After": str(wait)},
        )


@router.post("/{workspace}/visitors", status_code=201)
async def create_visitor(workspace: str, request: Request, rt: RuntimeDep) -> dict[str, str]:
    """Issue a new VUID and visitor token (kept by the widget in first-party storage)."""
    check_slug(workspace, field="workspace")
    await _limit_per_ip(request, rt, "visitor")
    created = await visitors.do_create_visitor(rt, workspace)
    await connections.record_connection(
        rt,
        workspace_id=created.workspace_id,
        kind="visitor_created",
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        visitor_id=created.visitor_id,
    )
    return {"vuid": created.vuid, "token": created.token}


@router.get("/conversations")
async def my_conversations(principal: VisitorDep, rt: RuntimeDep) -> dict[str, Any]:
    return await queries.list_conversations(rt, principal)


@router.post("/conversations", status_code=201)
async def start_conversation(
    body: ConversationStart,
    request: Request,
    response: Response,
    principal: VisitorDep,
    rt: RuntimeDep,
) -> dict[str, Any]:
    """Start a chat (201), or, while one is open on the web, answer that one (200) and add
    ``message`` to it: a visitor has one open chat at a time."""
    await _limit_per_ip(request, rt, "conversation")
    assert principal.visitor_id is not None
    conversation, resumed = await conversations.do_start_conversation(
        rt,
        principal,
        visitor_id=principal.visitor_id,
        channel=Channel.WEB,
        group_id=body.group_id,
        visitor_context=body.context.model_dump(exclude_none=True) if body.context else None,
    )
    if resumed:
        response.status_code = 200
    result: dict[str, Any] = {
        "conversation": await queries.conversation_detail(rt, principal, conversation.id)
    }
    if body.message is not None:
        try:
            sent = await messages.do_send_message(
                rt,
                principal,
                conversation.id,
                client_id=body.message.client_id,
                body=body.message.body,
            )
        except ValidationFailed as exc:
            exc.field = f"message.{exc.field}" if exc.field else "message"
            raise
        result["message"] = sent.message
    return result


@router.get("/conversations/{conversation_id}")
async def read_conversation(
    conversation_id: uuid.UUID, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.get("/conversations/{conversation_id}/messages")
async def read_messages(
    conversation_id: uuid.UUID,
    principal: VisitorDep,
    rt: RuntimeDep,
    since: SeqParam = 0,
    limit: LimitParam = 100,
) -> dict[str, Any]:
    return await messages.list_messages(rt, principal, conversation_id, since=since, limit=limit)


@router.post("/conversations/{conversation_id}/messages", status_code=201)
async def send_message(
    conversation_id: uuid.UUID, body: MessageSend, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    sent = await messages.do_send_message(
        rt, principal, conversation_id, client_id=body.client_id, body=body.body
    )
    return {"message": sent.message, "duplicate": sent.duplicate}


@router.post("/conversations/{conversation_id}/close")
async def close_conversation(
    conversation_id: uuid.UUID, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    await conversations.do_close(rt, principal, conversation_id)
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.post("/conversations/{conversation_id}/csat")
async def rate_conversation(
    conversation_id: uuid.UUID, body: CsatRequest, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    await messages.do_rate(rt, principal, conversation_id, body.score, body.comment)
    return await queries.conversation_detail(rt, principal, conversation_id)


@router.post("/identify")
async def identify(body: IdentityFields, principal: VisitorDep, rt: RuntimeDep) -> dict[str, str]:
    assert principal.workspace_id is not None
    await visitors.do_identify_visitor(
        rt,
        principal,
        principal.workspace_id,
        visitor_id=principal.visitor_id,
        fields=body.model_dump(exclude_unset=True),
    )
    return {"status": "identified"}


@router.post("/{workspace}/reopen")
async def reopen_from_link(
    workspace: str, body: ReopenRequest, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    """Trade the token of an e-mailed link for a visitor token and its conversation."""
    check_slug(workspace, field="workspace")
    await _limit_per_ip(request, rt, "reopen")
    return await offline.do_reopen_from_link(rt, workspace, body.token)


@router.post("/conversations/{conversation_id}/transcript", status_code=202)
async def email_transcript(
    conversation_id: uuid.UUID, body: TranscriptMailRequest, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, str]:
    """E-mail a copy of the ended chat to the address given; the address is not stored."""
    try:
        await transcript_mail.do_email_transcript(rt, principal, conversation_id, body.email)
    except MailFailed as exc:
        raise Conflict(
            "The copy could not be sent just now; try again in a few minutes.", field="email"
        ) from exc
    return {"status": "sent"}
