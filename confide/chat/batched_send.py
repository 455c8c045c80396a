"""The message path's fast lane: a message as one write program in a batch (SQLite), or as
one statement (PostgreSQL).

Why: the lean send (``confide.chat.messages``) still made two trips to SQLite's driver thread
per message inside the write lock, and about seven round trips to PostgreSQL (BEGIN, the
claim, the consent read, terms, message, text, COMMIT); it ran through an ``AsyncSession``,
and operators' replies took the ORM path. Here everything that needs no database is done
first: the workspace's privacy settings (from this node's cache), redaction, sealing the text
under the conversation's data key (held by this node), the search terms' keyed hashes, the
message's id and time, an operator's public card (cached). What is left:

1. the claim, ``UPDATE conversations SET last_seq = last_seq + 1 ... RETURNING`` the policy
   facts, under the row lock (the same statement as the lean path);
2. the checks on those fresh facts: the policy (``can_work_conversation``), the status, and
   consent when the workspace requires it, read in the same transaction (a visitor needs a
   current grant, GDPR Art. 6(1)(a); an operator's reply to a visitor who withdrew or
   refused is refused, Art. 7(3));
3. the rows: search terms, the message, the sealed text.

On SQLite this is one write program (``confide.core.batched_writes``) that runs with the
other messages of its batch in one transaction; a check that fails raises in the program,
which rolls back its savepoint (and so gives its number back) and fails that message alone.
On PostgreSQL it is :data:`SEND_ONE`, one statement that claims, inserts the rows ``FROM``
the claim and returns the facts; when the checks need them the visitor's latest consent
decisions follow in a statement of their own (read after the row lock, see
``_one_statement``); the checks run on what came back and a failing one rolls the transaction
back before anyone saw the rows (BEGIN, the statement, COMMIT: three round trips, four with
consent). The event is published after the COMMIT, and only then is the message
acknowledged.

What this lane does not handle returns None and the caller takes the lean or full path as
before: settings, data key or agent card not held by this node (a conversation's first
message loads its key), transcripts off, SQLite without group commit; and, decided on the
claimed facts (the number given back): a closed conversation (a retry's stored message, or
``Conflict``) and, for an operator, a waiting chat (taking it), a first answer (timed for
reports), a social/SMS thread (delivered by a job) or an answer the visitor asked to have
e-mailed. A duplicate client id raises ``IntegrityError`` as the other paths do, and the
caller answers with the stored message.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, true
from sqlalchemy.exc import DBAPIError

from confide.access import policy
from confide.access.policy import Principal
from confide.chat import events, message_writes, search
from confide.chat.models import AuthorKind, Channel, Conversation, ConversationStatus, Message
from confide.core import hot_statements
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import ConsentRequired, ConsentWithdrawn, NotFound
from confide.core.hot_statements import HotStatement, run_sync
from confide.core.mail import mail_enabled
from confide.privacy import consent, redaction
from confide.privacy.redaction import RedactionPolicy
from confide.privacy.vault import INSERT_TEXT, insert_text_from

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from confide.runtime import Runtime

log = logging.getLogger("confide.db")


async def send(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID, client_id: str, body: str
) -> dict[str, Any] | None:
    """Store a visitor's or an operator's (checked) message in the next batch (SQLite) or in
    one statement (PostgreSQL) and publish its event; returns the event, or None when this
    lane does not apply (see the module docstring). Raises ``NotFound`` (no such
    conversation, or not the sender's to work), ``ConsentRequired`` (403, a visitor without a
    current grant), ``ConsentWithdrawn`` (409, an operator's reply to a visitor who said no),
    SQLAlchemy's ``IntegrityError`` for a client id already stored, and ``DBAPIError``
    (``connection_invalidated``) for a pooled PostgreSQL connection that died (the caller
    retries on the full path)."""
    batched = rt.db.batched
    workspace_id = principal.workspace_id
    operator = principal.kind == "operator"
    if workspace_id is None or principal.kind not in ("visitor", "operator"):
        return None
    if batched is None and rt.db.is_sqlite:
        return None  # SQLite without group commit (one unit per transaction)
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
    consent_required = privacy.consent_required
    mail = mail_enabled(rt.settings)
    keys = {"conversation_id": conversation_id}

    def admit(facts: Any, latest: Callable[[str], Any]) -> bool:
        """The checks on the claimed facts: True to store, False for the full path; raises a
        refusal (which rolls the claim back)."""
        if facts is None or not policy.can_work_conversation(principal, facts):
            raise NotFound("No such conversation, or you may not see it.")
        if _needs_full_path(facts, operator, mail, latest):
            return False
        if consent_required:  # GDPR Art. 6(1)(a), 7(3): read now, in this transaction
            decision = latest("chat")
            if operator and decision is not None and decision.decision in ("withdrawn", "refused"):
                raise ConsentWithdrawn(field="chat")
            if not operator and not consent.grants(decision, facts.workspace_id):
                raise ConsentRequired(field="chat")
        return True

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

    if batched is None:  # PostgreSQL: the message in one statement
        parameters = {f"message_{name}": value for name, value in row.items()}
        parameters.update(
            conversation_id=conversation_id,
            text_body=sealed["body"],
            text_created_at=sealed["created_at"],
            term_hashes=[term["term_hash"] for term in terms],
        )
        decisions = consent_required or (operator and mail)  # what admit may ask for
        return await publish(await _one_statement(rt, parameters, admit, decisions))
    insert_terms = search.insert_terms(rt)

    def program(connection: sqlite3.Connection) -> Any:
        """In the batch's transaction (its own savepoint), on whichever thread runs it.
        Returns the claimed facts, or None (its number given back) for the full path."""
        claimed = run_sync(connection, dialect, message_writes.CLAIM_SEQ, keys)
        facts: Any = claimed[0] if claimed else None
        if not admit(facts, lambda purpose: _latest(connection, dialect, facts, purpose)):
            run_sync(connection, dialect, message_writes.GIVE_BACK_SEQ, keys)
            return None
        if terms:
            run_sync(connection, dialect, insert_terms, terms)
        row["seq"] = facts.last_seq
        run_sync(connection, dialect, message_writes.INSERT_MESSAGE, row)
        run_sync(connection, dialect, INSERT_TEXT, sealed)
        return facts

    try:
        return await batched.run(program, publish)  # type: ignore[no-any-return]
    except sqlite3.Error as exc:
        # As SQLAlchemy translates it (IntegrityError for a duplicate client id).
        raise DBAPIError.instance(
            "(batched write)", None, exc, sqlite3.Error, dialect=dialect
        ) from exc


async def _one_statement(
    rt: Runtime,
    parameters: dict[str, Any],
    admit: Callable[[Any, Callable[[str], Any]], bool],
    decisions: bool,
) -> Any:
    """PostgreSQL: claim and rows in :data:`SEND_ONE`, then (``decisions``: when the checks
    need them) the visitor's latest consent decisions in :data:`DECISIONS`, then the checks;
    the transaction commits only if they pass (a refusal or a hand-over to the full path rolls
    the claim and the rows back, so nobody ever sees them). Returns the facts, or None for the
    full path.

    Why the decisions are a statement of their own: a statement reads from the snapshot taken
    when it starts (READ COMMITTED), and the claim may wait for the conversation's row lock; a
    withdrawal committed meanwhile would be missed by a read inside ``SEND_ONE`` and the
    message stored after it (GDPR Art. 7(3)). Read after the claim, as the other paths do, it
    is seen."""
    async with rt.db.engine.connect() as connection, connection.begin() as transaction:
        rows = await hot_statements.execute(connection, SEND_ONE, parameters)
        facts = rows[0] if rows else None
        latest: Any = None
        if decisions and facts is not None:
            found = await hot_statements.execute(
                connection, DECISIONS, {"visitor_id": facts.visitor_id}
            )
            latest = found[0] if found else None
        if not admit(facts, lambda purpose: _decision(latest, purpose)):
            await transaction.rollback()
            return None
    return facts


def _decision(latest: Any, purpose: str) -> Any:
    """The latest ``purpose`` decision in a row of :data:`DECISIONS`, as a row of
    ``consent.LATEST_DECISION`` (None: no decision)."""
    assert latest is not None, "DECISIONS was not read"
    if getattr(latest, f"{purpose}_decision") is None:
        return None
    return SimpleNamespace(
        **{name: getattr(latest, f"{purpose}_{name}") for name in _DECISION_COLUMNS}
    )


_DECISION_COLUMNS = ("decision", "workspace_id", "request_id", "superseded_at")


def _send_one() -> HotStatement:
    """The message in one statement (PostgreSQL): ``WITH claim AS (UPDATE conversations SET
    last_seq = last_seq + 1 ... RETURNING <facts>)``, the search terms, the message and its
    sealed text inserted ``FROM claim`` (so under the row lock, with the claimed number), and
    the facts returned. Data-modifying CTEs run to completion whether the final SELECT reads
    them or not (PostgreSQL docs, 7.8.4). No row: no such conversation (nothing written)."""
    claim = message_writes.CLAIM_SEQ.statement.cte("claim")  # type: ignore[attr-defined]
    columns = message_writes.MESSAGES.c
    # Parameters message_<column> (no column of the claim's UPDATE may share a name: a
    # parameter named like one of its columns would be SET).
    claimed = {"conversation_id": claim.c.id, "seq": claim.c.last_seq}
    message = insert(message_writes.MESSAGES).from_select(
        list(columns.keys()),
        select(*(claimed.get(c.key, bindparam(f"message_{c.key}", type_=c.type)) for c in columns)),
    )
    statement = select(claim).add_cte(
        search.insert_terms_from(claim.c.workspace_id, claim.c.id).cte("terms"),
        message.cte("message"),
        insert_text_from(claim.c.id).cte("text"),
    )
    return HotStatement(statement)


def _decisions() -> HotStatement:
    """The visitor's latest ``chat`` and ``email`` decisions in one row (columns
    ``chat_decision``, ``email_workspace_id``, ...; NULLs where there is none)."""
    visitor_type = Conversation.__table__.c.visitor_id.type
    visitor = select(bindparam("visitor_id", type_=visitor_type).label("id")).subquery("visitor")
    chat, email = (
        consent.latest_decision(visitor.c.id, purpose).lateral(purpose)
        for purpose in ("chat", "email")
    )
    return HotStatement(
        select(
            *(chat.c[name].label(f"chat_{name}") for name in _DECISION_COLUMNS),
            *(email.c[name].label(f"email_{name}") for name in _DECISION_COLUMNS),
        ).select_from(visitor.outerjoin(chat, true()).outerjoin(email, true()))
    )


DECISIONS = _decisions()


SEND_ONE = _send_one()


def _needs_full_path(facts: Any, operator: bool, mail: bool, latest: Callable[[str], Any]) -> bool:
    """What the full path (``confide.chat.messages``) does and this lane does not: answer a
    closed conversation (a retry's stored message, or ``Conflict``); for an operator, take a
    waiting chat, time the first answer, queue a reply to a social/SMS thread or the e-mail of
    an answer the visitor asked for (``confide.chat.offline``). ``latest``: the visitor's
    latest decision for a purpose."""
    if facts.status is ConversationStatus.CLOSED:
        return True
    if not operator:
        return False
    if facts.status is not ConversationStatus.OPEN or facts.first_response_at is None:
        return True
    if facts.channel is not Channel.WEB:
        return True
    return mail and consent.grants(latest("email"), facts.workspace_id)


def _latest(connection: sqlite3.Connection, dialect: Dialect, facts: Any, purpose: str) -> Any:
    rows = run_sync(
        connection,
        dialect,
        consent.LATEST_DECISION,
        {"visitor_id": facts.visitor_id, "purpose": purpose},
    )
    return rows[0] if rows else None
