"""Storing one message: its sequence number, its rows and its event.

Why a module of its own: this is the hot path of every channel (the widget, social and SMS
threads, recorded calls, files), and it is written with SQLAlchemy Core statements compiled
once, not the ORM's unit of work: the ORM's flush, identity map and attribute events cost more
CPU than the statements themselves (``docs/performance.md``). On SQLite the message row and
its search terms ride along with the text's INSERT, so the three take one trip to the
driver's thread (``confide.core.sqlite_driver``).

- The sequence number comes from an atomic ``UPDATE conversations SET last_seq = last_seq + 1
  ... RETURNING`` inside the transaction that inserts the message: the row lock orders
  concurrent senders, so numbers are gap-free and unique (a rolled-back send rolls its number
  back). :data:`CLAIM_SEQ` returns the conversation's policy facts with it (the lean path's
  only read, ``confide.chat.messages``).
- The body is redacted by the workspace's policy first: the original goes no further.
- The event is published only after commit.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from confide.access.policy import Principal
from confide.access.rules import COLUMN_NAMES
from confide.chat import events, exactly_once, routing
from confide.chat.models import AuthorKind, Conversation, Message
from confide.core import hot_statements
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork, new_id
from confide.core.hot_statements import HotStatement
from confide.core.sqlite_driver import RIDES_ALONG
from confide.privacy import consent, consent_state, redaction
from confide.privacy.models import WorkspacePrivacySettings
from confide.privacy.redaction import RedactionPolicy

if TYPE_CHECKING:
    from confide.runtime import Runtime


def author_kind_of(principal: Principal) -> AuthorKind:
    return AuthorKind.VISITOR if principal.kind == "visitor" else AuthorKind.OPERATOR


async def author_payload(
    rt: Runtime, session: AsyncSession, message: Message, conversation: ConversationKeys
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
    but no row is written. The returned ``Message`` is never attached to ``session`` (the rows
    are written with Core statements)."""
    if privacy is None:
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
    author = author_kind or author_kind_of(principal)
    if author is AuthorKind.VISITOR:  # every channel stores visitor words through here
        await consent.require_for_storage(
            rt, session, conversation.workspace_id, conversation.visitor_id
        )
    elif author is AuthorKind.OPERATOR and privacy.consent_required:
        # ... and operators' replies and files: none once the visitor withdrew consent.
        await consent_state.refuse_if_withdrawn(
            session, conversation.workspace_id, conversation.visitor_id
        )
    seq = await session.scalar(NEXT_SEQ, {"conversation_id": conversation.id})
    assert seq is not None
    conversation.last_seq = seq
    return await store_message(
        rt, session, conversation, principal, seq, client_id, body, kind, author, privacy
    )


class ConversationKeys(Protocol):
    """What storing a message reads of its conversation: a ``Conversation`` or a row of
    :data:`CLAIM_SEQ`."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def workspace_id(self) -> uuid.UUID: ...
    @property
    def visitor_id(self) -> uuid.UUID: ...


_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
NEXT_SEQ = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(last_seq=_CONVERSATIONS.c.last_seq + 1)
    .returning(_CONVERSATIONS.c.last_seq)
)
# The lean path's one read: the next sequence number and what the policy and the send check,
# under the row lock the UPDATE takes (the conversations primary key).
CLAIM_SEQ = HotStatement(
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(last_seq=_CONVERSATIONS.c.last_seq + 1)
    .returning(
        _CONVERSATIONS.c.last_seq,
        _CONVERSATIONS.c.channel,
        _CONVERSATIONS.c.first_response_at,
        *(_CONVERSATIONS.c[name] for name in COLUMN_NAMES),
    )
)
# The claim undone when the lean path hands a closed conversation to the full path.
GIVE_BACK_SEQ = HotStatement(
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .values(last_seq=_CONVERSATIONS.c.last_seq - 1)
)
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
INSERT_MESSAGE = HotStatement(insert(MESSAGES).prefix_with(RIDES_ALONG))


def message_row(message: Message) -> dict[str, Any]:
    """The :data:`INSERT_MESSAGE` parameters of a message not yet stored."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "client_id": message.client_id,
        "author_kind": message.author_kind,
        "author_operator_id": message.author_operator_id,
        "kind": message.kind,
        "created_at": message.created_at,
        "redactions": message.redactions,
    }


async def store_message(
    rt: Runtime,
    session: UnitOfWork,
    conversation: ConversationKeys,
    principal: Principal,
    seq: int,
    client_id: str | None,
    body: str,
    kind: str,
    author: AuthorKind,
    privacy: WorkspacePrivacySettings,
    connection: AsyncConnection | None = None,
) -> tuple[Message, dict[str, Any]]:
    """Write message ``seq`` (redacted, sealed, indexed) and publish its event after commit.
    On SQLite the search terms and the message row ride along with the text's INSERT: one
    trip to the driver's thread for the three (core/sqlite_driver.py). ``connection``: the
    unit's connection, when the caller has it already."""
    redacted = redaction.redact(RedactionPolicy.of(privacy), body)
    body = redacted.text
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
        from confide.chat import search  # search builds on the inbox queries

        # On the unit's connection: the session's execute costs more than the statement.
        if connection is None:
            connection = await session.connection()
        await search.index_message(rt, connection, conversation.workspace_id, conversation.id, body)
        await hot_statements.execute(connection, INSERT_MESSAGE, message_row(message))
        await rt.vault.write_message_text(  # the statement the two writes above ride along with
            connection,
            workspace_id=conversation.workspace_id,
            message_id=message.id,
            conversation_id=conversation.id,
            body=body,
        )
    event = events.message_event(
        message, body, await author_payload(rt, session, message, conversation)
    )
    if not privacy.store_transcripts:
        # Transcripts off: consoles that open the chat later read it from the live relay.
        session.on_commit(rt.relay.remember, conversation.id, event)
    events.publish(session, rt.broker, events.conversation_channel(conversation.id), event)
    return message, event
