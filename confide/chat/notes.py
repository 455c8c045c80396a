"""Internal notes: what operators write about a conversation for each other.

A note is personal data about the visitor, so it is treated like a message and more strictly:

- only operators who may work the conversation (``load_for``) add or read notes; a visitor
  principal is refused outright, and notes never travel on the ``conv:`` channel the widget
  listens to, nor appear in any widget route; they are personal data about the visitor, so
  the visitor's access export (GDPR Art. 15) includes them;
- the workspace's redaction policy masks a note's text before it is stored, as a message's;
- the text is sealed under the conversation's data key (``Vault.seal_note``): erasing the
  visitor (``Vault.erase_subject`` destroys their conversations' keys) makes every copy
  unreadable, backups included, and deleting the conversation deletes its notes (cascade);
- every addition and every read writes an audit record naming the visitor's subject.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from confide.access.policy import Principal
from confide.audit import ledger
from confide.chat.conversations import load_for
from confide.chat.message_input import check_body
from confide.chat.models import ConversationNote
from confide.chat.routing import agent_card
from confide.chat.visitors import subject_of
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import Forbidden
from confide.privacy.redaction import RedactionPolicy, redact
from confide.runtime import Runtime

ERASED = None  # a note whose key was destroyed reads as None


def _operator_only(principal: Principal) -> None:
    if principal.kind != "operator":
        raise Forbidden("Internal notes are for operators only.")


async def do_add_note(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, body: str
) -> dict[str, Any]:
    """Add a note. Raises NotFound (not the operator's conversation), ValidationFailed
    (``body``: empty or longer than ``message_max_chars``), Forbidden (not an operator)."""
    _operator_only(principal)
    body = check_body(rt, body)
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id)
        # The workspace's redaction masks a note as it masks a message (a card number an
        # agent pastes in a note is not stored either).
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
        body = redact(RedactionPolicy.of(privacy), body).text
        note_id = new_id()
        note = ConversationNote(
            id=note_id,
            conversation_id=conversation.id,
            author_operator_id=principal.operator_id,
            body_sealed=await rt.vault.seal_note(
                conversation.workspace_id, conversation.id, note_id, body
            ),
            created_at=utcnow(),
        )
        session.add(note)
        author = await agent_card(rt, session, principal.operator_id)
        await ledger.append(
            session,
            rt,
            principal,
            "conversation.note_added",
            subject_id=await subject_of(session, conversation.visitor_id),
            resource=f"conversation:{conversation_id}",
            details={"note_id": str(note_id)},
        )
    return _render(note, body, author)


def _render(
    note: ConversationNote, body: str | None, author: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "conversation_id": str(note.conversation_id),
        "body": body,
        "author": author,
        "created_at": note.created_at.isoformat(),
    }


async def list_notes(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The conversation's notes, oldest first (``body`` is None once erased). Audited."""
    _operator_only(principal)
    async with rt.db.transaction() as session:
        conversation = await load_for(session, principal, conversation_id)
        # Recorded before the notes are decrypted and returned: no record, no data.
        await ledger.append(
            session,
            rt,
            principal,
            "conversation.notes_read",
            subject_id=await subject_of(session, conversation.visitor_id),
            resource=f"conversation:{conversation_id}",
        )
        # ix_conversation_notes_conversation_id
        notes = (
            await session.scalars(
                select(ConversationNote)
                .where(ConversationNote.conversation_id == conversation.id)
                .order_by(ConversationNote.created_at, ConversationNote.id)
            )
        ).all()
        authors = {
            oid: await agent_card(rt, session, oid)
            for oid in {n.author_operator_id for n in notes if n.author_operator_id}
        }
        rendered = [
            _render(
                note,
                await rt.vault.open_note(
                    conversation.workspace_id, conversation.id, note.id, note.body_sealed
                ),
                authors.get(note.author_operator_id) if note.author_operator_id else None,
            )
            for note in notes
        ]
    return rendered
