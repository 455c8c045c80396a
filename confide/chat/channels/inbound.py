"""The inbound webhook: a signed message from a social/SMS provider, stored through the
message path in the conversation of its thread."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.access.workspaces import find_workspace_by_slug
from confide.chat import exactly_once
from confide.chat.channels.endpoints import (
    derive_signing_secret,
    find_endpoint,
    parse_social_channel,
    verify_signature,
)
from confide.chat.conversations import open_conversation
from confide.chat.message_input import MAX_CLIENT_ID, check_body
from confide.chat.message_writes import append_message
from confide.chat.models import (
    AuthorKind,
    ChannelEndpoint,
    Conversation,
    ConversationStatus,
    Message,
    Visitor,
)
from confide.chat.visitors import add_visitor
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, NotFound

if TYPE_CHECKING:
    from confide.runtime import Runtime


@dataclass(frozen=True)
class InboundResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    seq: int
    duplicate: bool


async def find_inbound_endpoint(rt: Runtime, workspace_slug: str, channel: str) -> ChannelEndpoint:
    """The enabled endpoint a webhook is addressed to, or *not found*."""
    workspace = await find_workspace_by_slug(rt, workspace_slug)
    kind = parse_social_channel(channel)
    if workspace is None:
        raise NotFound("No such workspace or channel.")
    async with rt.db.session() as session:
        endpoint = await find_endpoint(session, workspace.id, kind)
    if endpoint is None or not endpoint.enabled:
        raise NotFound("No such workspace or channel.")
    return endpoint


def verify_inbound(rt: Runtime, endpoint: ChannelEndpoint, header: str | None, body: bytes) -> None:
    verify_signature(derive_signing_secret(rt, endpoint), header, body)


def provider_client_id(message_id: str) -> str:
    """The provider's message id as a client id; ids longer than a client id are hashed (the
    same id always maps to the same value, so redelivery stays idempotent)."""
    if len(message_id) <= MAX_CLIENT_ID and message_id.isprintable():
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()[:56]


async def _message_by_client_id(
    session: AsyncSession, conversation_id: uuid.UUID, client_id: str
) -> Message | None:
    # uq_messages_client_id
    return await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.client_id == client_id
        )
    )


async def _fill_identity(
    rt: Runtime, session: AsyncSession, visitor: Visitor, fields: dict[str, str | None]
) -> None:
    """Attach what a provider says about the sender, without overwriting what the host's own
    identify call (or an earlier message) already set."""
    wanted = {k: v for k, v in fields.items() if v}
    if not wanted:
        return
    current = (await rt.vault.read_fields(session, [visitor.subject_id]))[visitor.subject_id]
    updates: dict[str, str | None] = {
        k: v for k, v in wanted.items() if k != "handle" and not current.get(k)
    }
    handle = wanted.get("handle")
    if handle:
        attributes = json.loads(current["attributes"]) if current.get("attributes") else {}
        if not attributes.get("handle"):
            attributes["handle"] = handle
            updates["attributes"] = json.dumps(attributes, sort_keys=True, separators=(",", ":"))
    if updates:
        await rt.vault.write_fields(session, visitor.subject_id, updates)


async def do_receive_inbound(
    rt: Runtime,
    endpoint: ChannelEndpoint,
    *,
    thread_id: str,
    message_id: str,
    text: str,
    sender: dict[str, str | None],
) -> InboundResult:
    """Store one inbound message in the conversation of its thread (created, or replaced by a
    new one if the thread's conversation was closed), as the thread's visitor."""
    body = check_body(rt, text)
    client_id = provider_client_id(message_id)
    receipt_key = exactly_once.provider_message_key(rt, message_id)
    workspace_id = endpoint.workspace_id
    for _attempt in range(3):
        try:
            async with rt.db.transaction() as session:
                # A redelivery is a duplicate even after its conversation closed: the receipt
                # is per endpoint, not per conversation.
                receipt = await exactly_once.inbound_receipt(session, endpoint.id, receipt_key)
                if receipt is not None:
                    return InboundResult(
                        receipt.conversation_id, receipt.message_id, receipt.seq, True
                    )
                result = await _receive(
                    rt, session, endpoint, workspace_id, thread_id, client_id, sender
                )
                if isinstance(result, InboundResult):
                    return result
                conversation, principal = result
                message, _event = await append_message(
                    rt,
                    session,
                    conversation,
                    principal,
                    client_id=client_id,
                    body=body,
                    author_kind=AuthorKind.VISITOR,
                )
                await exactly_once.record_inbound(session, endpoint.id, receipt_key, message)
        except IntegrityError:
            continue  # the same thread or message raced in from another request: look again
        return InboundResult(conversation.id, message.id, message.seq, False)
    raise Conflict("The message could not be stored; deliver it again.")


async def _receive(
    rt: Runtime,
    session: UnitOfWork,
    endpoint: ChannelEndpoint,
    workspace_id: uuid.UUID,
    thread_id: str,
    client_id: str,
    sender: dict[str, str | None],
) -> InboundResult | tuple[Conversation, Principal]:
    thread_index = rt.vault.thread_index(workspace_id, endpoint.channel.value, thread_id)
    # uq_conversations_thread
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.channel == endpoint.channel,
            Conversation.external_thread_index == thread_index,
        )
        .with_for_update()
    )
    if conversation is not None:
        stored = await _message_by_client_id(session, conversation.id, client_id)
        if stored is not None:
            return InboundResult(conversation.id, stored.id, stored.seq, True)
    if conversation is None or conversation.status is ConversationStatus.CLOSED:
        if conversation is not None:
            visitor = await session.get(Visitor, conversation.visitor_id)
            # One conversation per thread: the closed one hands the thread to its successor.
            conversation.external_thread_index = None
            conversation.external_thread_sealed = None
            await session.flush()
        else:
            visitor = None
        if visitor is None:
            visitor = await add_visitor(rt, session, workspace_id)
        conversation = await open_conversation(
            rt,
            session,
            workspace_id=workspace_id,
            visitor=visitor,
            channel=endpoint.channel,
            external_thread=thread_id,
        )
    else:
        visitor = await session.get(Visitor, conversation.visitor_id)
    assert visitor is not None
    await _fill_identity(rt, session, visitor, sender)
    visitor.last_seen_at = utcnow()
    principal = Principal(kind="visitor", workspace_id=workspace_id, visitor_id=visitor.id)
    return conversation, principal
