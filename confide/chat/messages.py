"""Sending and reading messages: the delivery contract.

- Every message gets the next per-conversation sequence number, allocated by an atomic
  ``UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING`` inside the transaction that
  inserts it; the row lock orders concurrent senders, so numbers are gap-free and unique.
- A send carries a client id; a retry with the same id returns the stored message and stores
  nothing (``uq_messages_client_id`` settles races between nodes).
- The event is published only after commit. A client that misses it resumes with
  ``list_messages(since=seq)``, which reads ``uq_messages_seq`` in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Role
from confide.access.policy import Principal
from confide.chat import events, routing
from confide.chat.conversations import Outbox, agent_card, load_for
from confide.chat.models import AuthorKind, Channel, Conversation, ConversationStatus, Message
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import Conflict, TooManyRequests, ValidationFailed
from confide.privacy import consent, redaction
from confide.privacy.models import WorkspacePrivacySettings
from confide.privacy.redaction import RedactionPolicy
from confide.runtime import Runtime

MAX_CLIENT_ID = 64
PAGE_LIMIT = 200
# Channels whose operator replies are delivered from the stored message (channel_deliveries).
_THREADED = frozenset({Channel.SOCIAL, Channel.SMS})


@dataclass(frozen=True)
class SendResult:
    message: dict[str, Any]
    duplicate: bool


def _author_kind(principal: Principal) -> AuthorKind:
    return AuthorKind.VISITOR if principal.kind == "visitor" else AuthorKind.OPERATOR


def check_body(rt: Runtime, body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationFailed("Write something before sending.", field="body")
    if len(body) > rt.settings.message_max_chars:
        raise ValidationFailed(
            f"Messages are limited to {rt.settings.message_max_chars} characters.", field="body"
        )
    return body


def check_client_id(client_id: str) -> str:
    if not client_id or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise ValidationFailed("Send a client_id of 1-64 printable characters.", field="client_id")
    return client_id


async def _author_payload(
    rt: Runtime, session: AsyncSession, message: Message, conversation: Conversation
) -> dict[str, Any]:
    if message.author_kind is AuthorKind.OPERATOR and message.author_operator_id:
        card = await agent_card(rt, session, message.author_operator_id)
        return {"kind": "operator", **(card or {"id": str(message.author_operator_id)})}
    if message.author_kind is AuthorKind.VISITOR:
        return {"kind": "visitor", "id": str(conversation.visitor_id)}
    return {"kind": message.author_kind.value}


async def append_message(
    rt: Runtime,
    session: AsyncSession,
    conversation: Conversation,
    principal: Principal,
    *,
    client_id: str | None,
    body: str,
    kind: str = "text",
    author_kind: AuthorKind | None = None,
    outbox: Outbox,
    privacy: WorkspacePrivacySettings | None = None,
) -> Message:
    """Insert one message inside the caller's transaction and queue its event.

    The body is redacted by the workspace's policy first: the original goes no further than
    this function. With transcripts off the message gets its sequence number and is relayed,
    but no row is written (the returned ``Message`` is transient)."""
    if privacy is None:
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
    redacted = redaction.redact(RedactionPolicy.of(privacy), body)
    body = redacted.text
    seq = await session.scalar(
        update(Conversation)
        .where(Conversation.id == conversation.id)
        .values(last_seq=Conversation.last_seq + 1)
        .returning(Conversation.last_seq)
    )
    assert seq is not None
    conversation.last_seq = seq
    author = author_kind or _author_kind(principal)
    message = Message(
        id=new_id(),
        conversation_id=conversation.id,
        seq=seq,
        client_id=client_id,
        author_kind=author,
        author_operator_id=principal.operator_id if author is AuthorKind.OPERATOR else None,
        kind=kind,
        created_at=utcnow(),
        redactions=redacted.counts,
    )
    if privacy.store_transcripts:
        session.add(message)
        await session.flush()
        await rt.vault.write_message_text(
            session,
            workspace_id=conversation.workspace_id,
            message_id=message.id,
            conversation_id=conversation.id,
            body=body,
        )
    outbox.add(
        events.conversation_channel(conversation.id),
        events.message_event(
            message, body, await _author_payload(rt, session, message, conversation)
        ),
    )
    return message


async def _existing(
    rt: Runtime, session: AsyncSession, conversation: Conversation, client_id: str
) -> dict[str, Any] | None:
    message = await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.client_id == client_id
        )
    )
    if message is None:
        return None
    body = (await rt.vault.read_message_texts(session, [message.id])).get(message.id)
    return events.message_event(
        message, body, await _author_payload(rt, session, message, conversation)
    )


async def do_send_message(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    client_id: str,
    body: str,
    author_kind: AuthorKind | None = None,
) -> SendResult:
    from confide.chat import channels, offline  # both build on this module

    check_client_id(client_id)
    body = check_body(rt, body)
    if principal.kind == "visitor":
        wait = await rt.limiter.hit(
            f"msg:{principal.visitor_id}", rt.settings.visitor_messages_per_minute, 60
        )
        if wait:
            raise TooManyRequests(
                "You are sending messages too fast; wait a moment.",
                headers={"Retry-After": str(wait)},
            )
    for attempt in range(2):
        outbox = Outbox()
        try:
            async with rt.db.transaction() as session:
                conversation = await load_for(session, principal, conversation_id, lock=True)
                # A retry is rare: the first attempt lets uq_messages_client_id find it (the
                # insert fails, all rolls back, and the second attempt returns the stored one)
                # instead of a lookup inside every sender's transaction.
                closed = conversation.status is ConversationStatus.CLOSED
                if attempt or closed:
                    duplicate = await _existing(rt, session, conversation, client_id)
                    if duplicate is not None:
                        return SendResult(duplicate, True)
                if closed:
                    raise Conflict(
                        "This conversation is closed; start a new one (visitors) or reopen it."
                    )
                privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
                if principal.kind == "visitor" and privacy.consent_required:
                    await consent.require(session, principal, "chat")
                if principal.kind == "operator":
                    await _operator_takes_part(rt, session, conversation, principal, outbox)
                    if not privacy.store_transcripts and conversation.channel in _THREADED:
                        raise Conflict(
                            "Replies to social/SMS threads are delivered from the stored "
                            "message; turn on store_transcripts to reply on this channel."
                        )
                message = await append_message(
                    rt,
                    session,
                    conversation,
                    principal,
                    client_id=client_id,
                    body=body,
                    author_kind=author_kind,
                    outbox=outbox,
                    privacy=privacy,
                )
                result = next(e for _, e in outbox.items if e.get("id") == str(message.id))
                delivery_id = None
                if privacy.store_transcripts:
                    delivery_id = await channels.queue_outbound(rt, session, conversation, message)
                    if principal.kind == "operator":  # an answer the visitor asked to e-mail
                        await offline.queue_reply_email(rt, session, conversation, message)
        except IntegrityError:
            continue  # the same client id raced in from another node: return the stored one
        await outbox.publish(rt)
        if delivery_id is not None:
            # A reply to a social/SMS thread: POST it to the channel's endpoint, after commit.
            channels.start_delivery(rt, delivery_id)
        return SendResult(result, False)
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        stored = await _existing(rt, session, conversation, client_id)
    if stored is None:
        raise Conflict("The message could not be stored; send it again.")
    return SendResult(stored, True)


async def _operator_takes_part(
    rt: Runtime,
    session: AsyncSession,
    conversation: Conversation,
    principal: Principal,
    outbox: Outbox,
) -> None:
    """An operator answering a waiting chat takes it; the first answer is timed for reports."""
    assert principal.operator_id is not None
    if conversation.status is ConversationStatus.WAITING:
        if principal.role is Role.AGENT and not await routing.has_capacity(
            rt, session, principal.operator_id
        ):
            raise Conflict("You already have the maximum number of open chats.")
        presence = await routing.presence_of(rt, session, principal.operator_id, lock=True)
        routing.assign(conversation, presence, principal.operator_id)
        await session.flush()
        outbox.conversation_changed(
            conversation, "assigned", await agent_card(rt, session, principal.operator_id)
        )
    if conversation.first_response_at is None:
        conversation.first_response_at = utcnow()


async def list_messages(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    since: int = 0,
    limit: int = PAGE_LIMIT,
) -> dict[str, Any]:
    """Messages after ``since`` in sequence order, at most ``limit``; ``has_more`` says whether
    to ask again with the last seq."""
    limit = max(1, min(limit, PAGE_LIMIT))
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        # uq_messages_seq
        rows = list(
            (
                await session.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation.id, Message.seq > since)
                    .order_by(Message.seq)
                    .limit(limit + 1)
                )
            ).all()
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        texts = await rt.vault.read_message_texts(session, [m.id for m in rows])
        operator_ids = {m.author_operator_id for m in rows if m.author_operator_id}
        cards = {oid: await agent_card(rt, session, oid) for oid in operator_ids}
        messages = []
        for message in rows:
            if message.author_kind is AuthorKind.OPERATOR and message.author_operator_id:
                author: dict[str, Any] = {
                    "kind": "operator",
                    **(cards.get(message.author_operator_id) or {}),
                }
            elif message.author_kind is AuthorKind.VISITOR:
                author = {"kind": "visitor", "id": str(conversation.visitor_id)}
            else:
                author = {"kind": message.author_kind.value}
            messages.append(events.message_event(message, texts.get(message.id), author))
    return {"messages": messages, "has_more": has_more, "last_seq": conversation.last_seq}
