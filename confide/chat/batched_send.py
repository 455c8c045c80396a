"""A message as one write program in a batch (SQLite): the message path's fast lane.

Why: on SQLite the lean send (``confide.chat.messages``) still made two trips to the driver's
thread per message inside the write lock, plus its share of the batch's BEGIN and COMMIT, and
ran through an ``AsyncSession``; operators' replies took the ORM path. Here everything that
needs no database is done first: the workspace's privacy settings (from this node's cache),
redaction, sealing the text under the conversation's data key (held by this node), the search
terms' keyed hashes, the message's id and time, an operator's public card (cached). What is
left is one write program (``confide.core.batched_writes``) that runs with the other messages
of its batch in one transaction:

1. the claim, ``UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING`` the policy
   facts, under the row lock (the same statement as the lean path);
2. the checks on those fresh facts: the policy (``can_work_conversation``), the status, and
   consent when the workspace requires it, read in the same transaction (a visitor needs a
   current grant, GDPR Art. 6(1)(a); an operator's reply to a visitor who withdrew or
   refused is refused, Art. 7(3));
3. the rows: search terms, the message, the sealed text.

A check that fails raises in the program, which rolls back its savepoint (and so gives its
number back) and fails that message alone. The event is published after the batch's COMMIT,
and only then is the message acknowledged. What this lane does not handle returns None and
the caller takes the lean or full path as before: PostgreSQL, settings, data key or agent card
not held by this node (a conversation's first message loads its key), transcripts off; and,
decided inside the program (which then gives its number back): a closed conversation (a
retry's stored message, or ``Conflict``) and, for an operator, a waiting chat (taking it), a
first answer (timed for reports), a social/SMS thread (delivered by a job) or an answer the
visitor asked to have e-mailed. A duplicate client id raises ``IntegrityError`` as the other
paths do, and the caller answers with the stored message.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from confide.access import policy
from confide.access.policy import Principal
from confide.chat import events, message_writes, search
from confide.chat.models import AuthorKind, Channel, ConversationStatus, Message
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import ConsentRequired, ConsentWithdrawn, NotFound
from confide.core.hot_statements import run_sync
from confide.core.mail import mail_enabled
from confide.privacy import consent, redaction
from confide.privacy.redaction import RedactionPolicy
from confide.privacy.vault import INSERT_TEXT

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from confide.runtime import Runtime

log = logging.getLogger("confide.db")


async def send(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, client_id: str, body: str
) -> dict[str, Any] | None:
    """Store a visitor's or an operator's (checked) message in the next batch and publish its
    event; returns the event, or None when this lane does not apply (see the module
    docstring). Raises ``NotFound`` (no such conversation, or not the sender's to work),
    ``ConsentRequired`` (403, a visitor without a current grant), ``ConsentWithdrawn`` (409,
    an operator's reply to a visitor who said no) and SQLAlchemy's ``IntegrityError`` for a
    client id already stored."""
    batched = rt.db.batched
    workspace_id = principal.workspace_id
    operator = principal.kind == "operator"
    if batched is None or workspace_id is None or principal.kind not in ("visitor", "operator"):
        return None
    privacy = rt.privacy_cache.cached(workspace_id)
    if privacy is None or not privacy.store_transcripts:
        return None
    author: dict[str, Any] | None = None  # an operator's public card; a visitor's is the id
    if operator:
        held, card = rt.agent_cards.get(principal.operator_id)  # type: ignore[arg-type]
        if not held or card is None:
            return None
        author = {"kind": "operator", **card}
    text = redaction.redact(RedactionPolicy.of(privacy), body)
    message = Message(
        id=new_id(),
        conversation_id=conversation_id,
        client_id=client_id,
        author_kind=AuthorKind.OPERATOR if operator else AuthorKind.VISITOR,
        author_operator_id=principal.operator_id if operator else None,
        kind="text",
        created_at=utcnow(),
        redactions=text.counts,
    )
    sealed = rt.vault.sealed_text_row(
        message_id=message.id, conversation_id=conversation_id, body=text.text
    )
    if sealed is None:
        return None
    dialect = rt.db.engine.dialect
    row = message_writes.message_row(message)
    terms = search.term_rows(rt, workspace_id, conversation_id, text.text)
    insert_terms = search.insert_terms(rt)
    consent_required = privacy.consent_required
    mail = mail_enabled(rt.settings)
    keys = {"conversation_id": conversation_id}

    def program(connection: sqlite3.Connection) -> Any:
        """In the batch's transaction (its own savepoint), on whichever thread runs it.
        Returns the claimed facts, or None (its number given back) for the full path."""
        claimed = run_sync(connection, dialect, message_writes.CLAIM_SEQ, keys)
        facts = claimed[0] if claimed else None
        if facts is None or not policy.can_work_conversation(principal, facts):
            raise NotFound("No such conversation, or you may not see it.")
        if _needs_full_path(connection, dialect, facts, operator, mail):
            run_sync(connection, dialect, message_writes.GIVE_BACK_SEQ, keys)
            return None
        if consent_required:  # GDPR Art. 6(1)(a), 7(3): read now, in this transaction
            latest = _latest(connection, dialect, facts, "chat")
            if operator and latest is not None and latest.decision in ("withdrawn", "refused"):
                raise ConsentWithdrawn(field="chat")
            if not operator and not consent.grants(latest, facts.workspace_id):
                raise ConsentRequired(field="chat")
        if terms:
            run_sync(connection, dialect, insert_terms, terms)
        row["seq"] = facts.last_seq
        run_sync(connection, dialect, message_writes.INSERT_MESSAGE, row)
        run_sync(connection, dialect, INSERT_TEXT, sealed)
        return facts

    async def publish(facts: Any) -> dict[str, Any] | None:
        if facts is None:
            return None
        message.seq = facts.last_seq
        who = author if author is not None else {"kind": "visitor", "id": str(facts.visitor_id)}
        event = events.message_event(message, text.text, who)
        try:
            await rt.broker.publish(events.conversation_channel(conversation_id), event)
        except Exception as exc:  # the message is stored: resume delivers it (core/db.py)
            log.error("after-commit work broker.publish failed: %s", type(exc).__name__)
        return event

    try:
        return await batched.run(program, publish)  # type: ignore[no-any-return]
    except sqlite3.Error as exc:
        # As SQLAlchemy translates it (IntegrityError for a duplicate client id).
        raise DBAPIError.instance(
            "(batched write)", None, exc, sqlite3.Error, dialect=dialect
        ) from exc


def _needs_full_path(
    connection: sqlite3.Connection, dialect: Dialect, facts: Any, operator: bool, mail: bool
) -> bool:
    """What the full path (``confide.chat.messages``) does and this lane does not: answer a
    closed conversation (a retry's stored message, or ``Conflict``); for an operator, take a
    waiting chat, time the first answer, queue a reply to a social/SMS thread or the e-mail of
    an answer the visitor asked for (``confide.chat.offline``)."""
    if facts.status is ConversationStatus.CLOSED:
        return True
    if not operator:
        return False
    if facts.status is not ConversationStatus.OPEN or facts.first_response_at is None:
        return True
    if facts.channel is not Channel.WEB:
        return True
    return mail and consent.grants(_latest(connection, dialect, facts, "email"), facts.workspace_id)


def _latest(connection: sqlite3.Connection, dialect: Dialect, facts: Any, purpose: str) -> Any:
    rows = run_sync(
        connection,
        dialect,
        consent.LATEST_DECISION,
        {"visitor_id": facts.visitor_id, "purpose": purpose},
    )
    return rows[0] if rows else None
