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

import unicodedata
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Role
from confide.access.policy import ConversationAccess, Principal
from confide.chat import events, exactly_once, offline, routing
from confide.chat.archive_reads import archive_opened
from confide.chat.channels import outbound
from confide.chat.conversations import load_for
from confide.chat.models import (
    AuthorKind,
    Channel,
    Conversation,
    ConversationStatus,
    Message,
)
from confide.chat.visitors import subject_of
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork, new_id
from confide.core.errors import Conflict, Forbidden, TooManyRequests, ValidationFailed
from confide.privacy import consent, redaction
from confide.privacy.access import read_transcript
from confide.privacy.models import WorkspacePrivacySettings
from confide.privacy.redaction import RedactionPolicy

if TYPE_CHECKING:
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


# Characters that render as nothing: format characters (Unicode category Cf: zero-width space,
# joiners, direction marks, word joiner, BOM, ...) and the fillers and blanks that are letters
# or symbols by category but show no glyph (Hangul fillers, braille blank, variation selectors).
_INVISIBLE_NOT_CF = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0") | frozenset(
    chr(c) for c in range(0xFE00, 0xFE10)
)


def is_blank(text: str) -> bool:
    """True if ``text`` shows nothing: only whitespace and invisible characters."""
    return all(
        ch.isspace() or ch in _INVISIBLE_NOT_CF or unicodedata.category(ch) == "Cf" for ch in text
    )


def check_body(rt: Runtime, body: str) -> str:
    """The body to store, stripped of surrounding whitespace; raises ``ValidationFailed``
    (field ``body``) if it shows nothing (only whitespace or invisible characters, which a
    visitor cannot see and an agent cannot answer) or is too long."""
    body = body.strip()
    if is_blank(body):
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
        card = await routing.agent_card(rt, session, message.author_operator_id)
        return {"kind": "operator", **(card or {"id": str(message.author_operator_id)})}
    if message.author_kind is AuthorKind.VISITOR:
        return {"kind": "visitor", "id": str(conversation.visitor_id)}
    return {"kind": message.author_kind.value}


async def append_message(
    rt: Runtime,
    session: UnitOfWork,
    conversation: Conversation,
    principal: Principal,
    *,
    client_id: str | None,
    body: str,
    kind: str = "text",
    author_kind: AuthorKind | None = None,
    privacy: WorkspacePrivacySettings | None = None,
) -> tuple[Message, dict[str, Any]]:
    """Insert one message inside the caller's unit of work and publish its event after the
    commit; returns the message and that event.

    The body is redacted by the workspace's policy first: the original goes no further than
    this function. With transcripts off the message gets its sequence number and is relayed,
    but no row is written (the returned ``Message`` is transient)."""
    if privacy is None:
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
    author = author_kind or _author_kind(principal)
    if author is AuthorKind.VISITOR:  # every channel stores visitor words through here
        await consent.require_for_storage(
            rt, session, conversation.workspace_id, conversation.visitor_id
        )
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
    if not privacy.store_transcripts and client_id is not None:
        await exactly_once.remember_relayed(session, message)
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
        from confide.chat import search  # search builds on the inbox queries

        await search.index_message(rt, session, conversation, body)
    event = events.message_event(
        message, body, await _author_payload(rt, session, message, conversation)
    )
    if not privacy.store_transcripts:
        # Transcripts off: consoles that open the chat later read it from the live relay.
        session.on_commit(rt.relay.remember, conversation.id, event)
    events.publish(session, rt.broker, events.conversation_channel(conversation.id), event)
    return message, event


async def _existing(
    rt: Runtime,
    session: AsyncSession,
    conversation: Conversation,
    client_id: str,
    retry: tuple[Principal, str] | None = None,
) -> dict[str, Any] | None:
    """The message a retry with ``client_id`` repeats: the stored one, or with transcripts off
    the relayed one (``retry``: its sender and body, as the relayed text was never kept)."""
    message = await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation.id, Message.client_id == client_id
        )
    )
    if message is None and retry is not None:
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
        relayed = await exactly_once.relayed_message(session, conversation.id, client_id)
        if relayed is None:
            return None
        principal, retried_body = retry
        redacted = redaction.redact(RedactionPolicy.of(privacy), retried_body)
        relayed.author_kind = _author_kind(principal)
        relayed.author_operator_id = principal.operator_id
        relayed.redactions = redacted.counts
        author = await _author_payload(rt, session, relayed, conversation)
        return events.message_event(relayed, redacted.text, author)
    if message is None:
        return None
    stored = (await rt.vault.read_message_texts(session, [message.id])).get(message.id)
    return events.message_event(
        message, stored, await _author_payload(rt, session, message, conversation)
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
        try:
            async with rt.db.transaction() as session:
                conversation = await load_for(session, principal, conversation_id, lock=True)
                # A retry is rare: the first attempt lets uq_messages_client_id find it (the
                # insert fails, all rolls back, and the second attempt returns the stored one)
                # instead of a lookup inside every sender's transaction.
                closed = conversation.status is ConversationStatus.CLOSED
                if attempt or closed:
                    duplicate = await _existing(
                        rt, session, conversation, client_id, (principal, body)
                    )
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
                    await _operator_takes_part(rt, session, conversation, principal)
                    if not privacy.store_transcripts and conversation.channel in _THREADED:
                        raise Conflict(
                            "Replies to social/SMS threads are delivered from the stored "
                            "message; turn on store_transcripts to reply on this channel."
                        )
                message, result = await append_message(
                    rt,
                    session,
                    conversation,
                    principal,
                    client_id=client_id,
                    body=body,
                    author_kind=author_kind,
                    privacy=privacy,
                )
                if privacy.store_transcripts:
                    delivery_id = await outbound.queue_outbound(rt, session, conversation, message)
                    if delivery_id is not None:
                        # A reply to a social/SMS thread: POST it to the endpoint after commit.
                        session.on_commit(outbound.start_delivery, rt, delivery_id)
                    if principal.kind == "operator":  # an answer the visitor asked to e-mail
                        await offline.queue_reply_email(rt, session, conversation, message)
        except IntegrityError:
            continue  # the same client id raced in from another node: return the stored one
        except DBAPIError as exc:
            # A pooled connection that died (a database restart) fails once and is dropped
            # (there is no ping before each checkout, core/db.py): try again on a fresh one,
            # looking the client id up first in case the COMMIT got through.
            if attempt or not exc.connection_invalidated:
                raise
            continue
        return SendResult(result, False)
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        stored = await _existing(rt, session, conversation, client_id, (principal, body))
    if stored is None:
        raise Conflict("The message could not be stored; send it again.")
    return SendResult(stored, True)


async def _operator_takes_part(
    rt: Runtime,
    session: UnitOfWork,
    conversation: Conversation,
    principal: Principal,
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
        events.conversation_changed(
            session,
            rt.broker,
            conversation,
            "assigned",
            await routing.agent_card(rt, session, principal.operator_id),
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
    to ask again with the last seq. An operator's (or API key's) read is recorded in the audit
    ledger in the same unit of work, before the texts leave (``privacy.access``); a visitor
    reading their own conversation is not a read by someone else and is not recorded.
    Raises :class:`NotFound` when the policy does not let ``principal`` see it."""
    limit = max(1, min(limit, PAGE_LIMIT))
    async with rt.db.transaction() as tx:
        conversation = await load_for(
            tx, principal, conversation_id, access=ConversationAccess.READ
        )
        # uq_messages_seq
        rows = list(
            (
                await tx.scalars(
                    select(Message)
                    .where(Message.conversation_id == conversation.id, Message.seq > since)
                    .order_by(Message.seq)
                    .limit(limit + 1)
                )
            ).all()
        )
        has_more = len(rows) > limit
        rows = rows[:limit]
        if principal.kind == "visitor":
            texts = await rt.vault.read_message_texts(tx, [m.id for m in rows])
        else:
            subject_id = await subject_of(tx, conversation.visitor_id)
            with archive_opened(rt, conversation):  # a custodian's grant: archived keys
                texts = await read_transcript(
                    tx,
                    rt,
                    principal,
                    [m.id for m in rows],
                    subject_id=subject_id,
                    action="conversation.messages_read",
                    resource=f"conversation:{conversation.id}",
                )
        operator_ids = {m.author_operator_id for m in rows if m.author_operator_id}
        cards = {oid: await routing.agent_card(rt, tx, oid) for oid in operator_ids}
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


async def do_rate(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, score: int, comment: str | None
) -> Conversation:
    """The visitor rates a closed conversation (CSAT 1-5, optional comment stored as a
    ``csat`` message). Raises :class:`ValidationFailed` (``score``), :class:`Conflict`
    (not closed, already rated), :class:`Forbidden` (not the visitor)."""
    if principal.kind != "visitor":
        raise Forbidden("Only the visitor rates a conversation.")
    if not 1 <= score <= 5:
        raise ValidationFailed("Rate from 1 to 5.", field="score")
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is not ConversationStatus.CLOSED:
            raise Conflict("Rate the conversation after it is closed.")
        if conversation.csat_score is not None:
            raise Conflict("This conversation has already been rated.")
        conversation.csat_score = score
        if comment:
            await append_message(
                rt, tx, conversation, principal, client_id=None, body=comment, kind="csat"
            )
        await tx.flush()
        events.conversation_changed(tx, rt.broker, conversation, "rated")
    return conversation
