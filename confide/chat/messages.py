"""Sending and reading messages: the delivery contract.

- Every message gets the next per-conversation sequence number, allocated by an atomic
  ``UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING`` inside the transaction that
  inserts it; the row lock orders concurrent senders, so numbers are gap-free and unique
  (``confide.chat.message_writes`` writes the rows).
- Most messages take the fast lane (``confide.chat.batched_send``): a write program in a
  batch on SQLite, one statement on PostgreSQL. What it hands back, a visitor's message takes
  the *lean* path: that UPDATE also returns the conversation's policy facts, so the send is
  two statements (the claim, then the rows in one trip on SQLite) with no ORM object loaded.
  Both run every check of the full path on fresh facts read under the row lock (policy,
  closed, consent), so a closed conversation or a withdrawn consent fails the next message on
  every node. Operators taking or first answering a chat, closed conversations and retries
  take the full path (ORM, ``load_for``).
- A send carries a client id; a retry with the same id returns the stored message and stores
  nothing (``uq_messages_client_id`` settles races between nodes).
- The event is published only after commit. A client that misses it resumes with
  ``list_messages(since=seq)``, which reads ``uq_messages_seq`` in order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import Role
from confide.access.policy import ConversationAccess, Principal
from confide.chat import batched_send, events, exactly_once, message_writes, offline, routing
from confide.chat.archive_reads import archive_opened
from confide.chat.channels import outbound
from confide.chat.conversations import load_for
from confide.chat.message_input import check_body, check_client_id
from confide.chat.models import (
    AuthorKind,
    Channel,
    Conversation,
    ConversationStatus,
    Message,
)
from confide.chat.visitors import subject_of
from confide.core import hot_statements
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import (
    Conflict,
    ConsentRequired,
    ConsentWithdrawn,
    Forbidden,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from confide.privacy import consent, redaction
from confide.privacy.access import read_transcript
from confide.privacy.redaction import RedactionPolicy
from confide.privacy.requests import limits

if TYPE_CHECKING:
    from confide.runtime import Runtime

PAGE_LIMIT = 200
# Channels whose operator replies are delivered from the stored message (channel_deliveries).
_THREADED = frozenset({Channel.SOCIAL, Channel.SMS})


@dataclass(frozen=True)
class SendResult:
    message: dict[str, Any]
    duplicate: bool


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
        relayed.author_kind = message_writes.author_kind_of(principal)
        relayed.author_operator_id = principal.operator_id
        relayed.redactions = redacted.counts
        author = await message_writes.author_payload(rt, session, relayed, conversation)
        return events.message_event(relayed, redacted.text, author)
    if message is None:
        return None
    stored = (await rt.vault.read_message_texts(session, [message.id])).get(message.id)
    return events.message_event(
        message, stored, await message_writes.author_payload(rt, session, message, conversation)
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
    try:
        return await _send(rt, principal, conversation_id, client_id, body, author_kind)
    except (ConsentRequired, ConsentWithdrawn):
        # A resend of a message stored before the visitor withdrew (its ack was lost) is
        # answered with it like any retry: only new words are refused (GDPR Art. 7(3)).
        stored = await _stored(rt, principal, conversation_id, client_id, body)
        if stored is None:
            raise
        return SendResult(stored, True)


async def _send(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    client_id: str,
    body: str,
    author_kind: AuthorKind | None,
) -> SendResult:
    # A visitor's message to an open conversation takes the lean path; anything else (an
    # operator, a closed conversation, a retry) the full one, on the ORM.
    lean = principal.kind == "visitor" and author_kind in (None, AuthorKind.VISITOR)
    attempt = 0
    if author_kind in (None, message_writes.author_kind_of(principal)):
        try:  # in a batch on SQLite, in one statement on PostgreSQL (batched_send)
            event = await batched_send.send(rt, principal, conversation_id, client_id, body)
        except IntegrityError:
            attempt = 1  # a retry: the full path answers with the stored message
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            attempt = 1  # a dead pooled connection: as below, the client id is looked up first
        else:
            if event is not None:
                return SendResult(event, False)
    while attempt < 2:
        try:
            async with rt.db.transaction() as session:
                if lean and not attempt:
                    return await _send_lean(
                        rt, session, principal, conversation_id, client_id, body
                    )
                return await _send_full(
                    rt, session, principal, conversation_id, client_id, body, author_kind, attempt
                )
        except IntegrityError:
            pass  # the same client id raced in from another node: return the stored one
        except DBAPIError as exc:
            # A pooled connection that died (a database restart) fails once and is dropped
            # (there is no ping before each checkout, core/db.py): try again on a fresh one,
            # looking the client id up first in case the COMMIT got through.
            if attempt or not exc.connection_invalidated:
                raise
        attempt += 1
    stored = await _stored(rt, principal, conversation_id, client_id, body)
    if stored is None:
        raise Conflict("The message could not be stored; send it again.")
    return SendResult(stored, True)


async def _stored(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, client_id: str, body: str
) -> dict[str, Any] | None:
    """The message stored (or relayed) under ``client_id``, read in a session of its own."""
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        return await _existing(rt, session, conversation, client_id, (principal, body))


async def _send_lean(
    rt: Runtime,
    session: UnitOfWork,
    principal: Principal,
    conversation_id: uuid.UUID,
    client_id: str,
    body: str,
) -> SendResult:
    """A visitor's message in two statements and one more trip: the sequence number and the
    conversation's facts in one ``UPDATE ... RETURNING`` (which takes the row lock the full
    path's ``SELECT ... FOR UPDATE`` takes), then the rows (``_store``). Every check of the
    full path stays: the policy (on the returned facts), the status, consent. The first attempt
    never looks the client id up: ``uq_messages_client_id`` finds a retry (see ``_send_full``).
    A closed conversation (rare) gives its number back and is answered by the full path in the
    same unit: a retry's stored message, or ``Conflict``."""
    connection = await session.connection()  # Core on the unit's connection, no ORM
    keys = {"conversation_id": conversation_id}
    claimed = await hot_statements.execute(connection, message_writes.CLAIM_SEQ, keys)
    facts = claimed[0] if claimed else None
    if facts is None or not policy.can_work_conversation(principal, facts):
        raise NotFound("No such conversation, or you may not see it.")
    if facts.status is ConversationStatus.CLOSED:
        await hot_statements.execute(connection, message_writes.GIVE_BACK_SEQ, keys)
        return await _send_full(rt, session, principal, conversation_id, client_id, body, None, 0)
    privacy = await rt.privacy_cache.load(session, facts.workspace_id)
    if privacy.consent_required:  # require_for_storage's check, once (GDPR Art. 6(1)(a), 7(3))
        await consent.require(session, principal, "chat")
    _message, event = await message_writes.store_message(
        rt,
        session,
        facts,
        principal,
        facts.last_seq,
        client_id,
        body,
        "text",
        AuthorKind.VISITOR,
        privacy,
        connection,
    )
    return SendResult(event, False)


async def _send_full(
    rt: Runtime,
    session: UnitOfWork,
    principal: Principal,
    conversation_id: uuid.UUID,
    client_id: str,
    body: str,
    author_kind: AuthorKind | None,
    attempt: int,
) -> SendResult:
    conversation = await load_for(session, principal, conversation_id, lock=True)
    # A retry is rare: the first attempt lets uq_messages_client_id find it (the insert
    # fails, all rolls back, and the second attempt returns the stored one) instead of a
    # lookup inside every sender's transaction.
    closed = conversation.status is ConversationStatus.CLOSED
    if attempt or closed:
        duplicate = await _existing(rt, session, conversation, client_id, (principal, body))
        if duplicate is not None:
            return SendResult(duplicate, True)
    if closed:
        raise Conflict("This conversation is closed; start a new one (visitors) or reopen it.")
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
    message, result = await message_writes.append_message(
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
    return SendResult(result, False)


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
    (not closed, already rated, the visitor objected to surveys: GDPR Art. 21),
    :class:`Forbidden` (not the visitor)."""
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
        subject_id = await subject_of(tx, conversation.visitor_id)
        if subject_id is not None and await limits.objects_to(tx, subject_id, "surveys"):
            # GDPR Art. 21: the person objected to surveys; nothing of a rating is kept.
            raise Conflict("You objected to satisfaction surveys, so no rating is recorded.")
        conversation.csat_score = score
        if comment:
            await message_writes.append_message(
                rt, tx, conversation, principal, client_id=None, body=comment, kind="csat"
            )
        await tx.flush()
        events.conversation_changed(tx, rt.broker, conversation, "rated")
    return conversation
