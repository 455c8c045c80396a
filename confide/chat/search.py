"""Search over the conversations an operator may see, including words of encrypted transcripts.

Why a keyed token index: message texts are sealed under per-conversation keys, so the database
cannot search them, and a plaintext full-text index would undo the encryption. Instead, each
stored message adds one entry per distinct word to ``search_terms``: ``(workspace, HMAC(word),
conversation)``. The HMAC key is derived from the instance secret per workspace, so:

- the database alone never gives a word back, and the same word hashes differently in two
  workspaces (no cross-workspace correlation);
- what it does reveal, to someone holding the database but not the secret: which conversations
  of a workspace share a word (an equality pattern) and how many distinct words each has. With
  the instance secret too, guessed words can be tested (a dictionary attack), as with the blind
  index of e-mail addresses;
- entries belong to their conversation: deleting it (retention) deletes them (cascade), and
  erasing its visitor (``Vault.erase_subject``) drops them with the conversation's keys, so the
  index never knows more than the transcripts it came from. Masked parts (cards, IBANs...)
  are never indexed: the index sees the redacted text.

A query asks the index per word (AND), then applies the policy scope of the inbox lists
(``queries.scoped``) and the filters in SQL, so an operator never learns that a conversation
they may not see exists.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, String, Table, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from confide.access import policy
from confide.access.models import Role
from confide.access.policy import Principal
from confide.chat import events
from confide.chat.labels import label_filter
from confide.chat.models import Channel, Conversation, ConversationStatus, SearchTerm, Visitor
from confide.chat.queries import scoped
from confide.chat.visitors import visitor_profiles
from confide.core import hot_statements
from confide.core.errors import Forbidden, ValidationFailed
from confide.core.hot_statements import HotStatement
from confide.core.sqlite_driver import RIDES_ALONG
from confide.runtime import Runtime

WORD = re.compile(r"\w{2,64}")
MAX_QUERY_WORDS = 8
RESULT_LIMIT = 50


def words_of(text: str) -> set[str]:
    """Distinct words of ``text``, case-folded; 2-64 word characters each."""
    return set(WORD.findall(text.casefold()))


def term_hash(rt: Runtime, workspace_id: uuid.UUID, word: str) -> str:
    return rt.secret.keyed_hash(f"search-terms:{workspace_id}", word.casefold())[:32]


_TERMS: Table = SearchTerm.__table__  # type: ignore[assignment]
# Rides along with the caller's next statement on SQLite (core/sqlite_driver.py).
_INSERT_TERM = {
    False: HotStatement(sqlite.insert(_TERMS).prefix_with(RIDES_ALONG).on_conflict_do_nothing()),
    True: HotStatement(postgresql.insert(_TERMS).prefix_with(RIDES_ALONG).on_conflict_do_nothing()),
}


def term_rows(
    rt: Runtime, workspace_id: uuid.UUID, conversation_id: uuid.UUID, body: str
) -> list[dict[str, Any]]:
    """The index rows of a stored (already redacted) message: one keyed hash per word."""
    # term_hash's purpose built once per message; words_of has case-folded every word already.
    purpose, keyed_hash = f"search-terms:{workspace_id}", rt.secret.keyed_hash
    return [
        {
            "workspace_id": workspace_id,
            "term_hash": keyed_hash(purpose, word)[:32],
            "conversation_id": conversation_id,
        }
        for word in words_of(body)
    ]


def insert_terms(rt: Runtime) -> HotStatement:
    """The statement that adds :func:`term_rows` (executemany; words the conversation already
    has are skipped by the primary key). On SQLite it rides along with the next statement."""
    return _INSERT_TERM[rt.db.engine.dialect.name == "postgresql"]


def insert_terms_from(workspace_id: Any, conversation_id: Any) -> Insert:
    """PostgreSQL: :func:`insert_terms` as a part of a larger statement: the keyed hashes come
    as one array parameter ``term_hashes`` (:func:`term_rows`' ``term_hash`` values), the
    workspace and conversation as SQL values of the enclosing statement (the message path's
    one statement, ``confide.chat.batched_send``)."""
    hashes = func.unnest(bindparam("term_hashes", type_=postgresql.ARRAY(String(32))))
    return (
        postgresql.insert(_TERMS)
        .from_select(
            ["workspace_id", "term_hash", "conversation_id"],
            select(workspace_id, hashes, conversation_id),
        )
        .on_conflict_do_nothing()
    )


async def index_message(
    rt: Runtime,
    session: AsyncSession | AsyncConnection,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: str,
) -> None:
    """Add the words of a stored (already redacted) message to the index, in the caller's
    transaction; words the conversation already has are skipped by the primary key. On SQLite
    the insert waits for the caller's next statement (which the caller must run in the same
    unit of work; it raises the insert's error, if any)."""
    rows = term_rows(rt, workspace_id, conversation_id, body)
    if not rows:
        return
    # One cached statement run for every row (executemany): a multi-row VALUES would be
    # compiled afresh for each message, which cost about a tenth of the send path's CPU.
    await hot_statements.execute(session, insert_terms(rt), rows)


async def forget_conversations(
    session: AsyncSession, conversation_ids: Iterable[uuid.UUID]
) -> None:
    """Drop what the index knew of these conversations (erasure calls this)."""
    ids = list(conversation_ids)
    if ids:
        # ix_search_terms_conversation_id
        await session.execute(delete(SearchTerm).where(SearchTerm.conversation_id.in_(ids)))


async def search_conversations(
    rt: Runtime,
    principal: Principal,
    *,
    text: str = "",
    visitor_email: str | None = None,
    label_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    status: ConversationStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = RESULT_LIMIT,
) -> list[dict[str, Any]]:
    """Conversations the principal may see that contain every word of ``text`` and match the
    filters, newest first, at most ``limit``. Raises ValidationFailed (``q``) for more than
    ``MAX_QUERY_WORDS`` words or a query with nothing to search by."""
    assert principal.workspace_id is not None
    wanted = sorted(words_of(text))
    if len(wanted) > MAX_QUERY_WORDS:
        raise ValidationFailed(f"Search for at most {MAX_QUERY_WORDS} words.", field="q")
    query = scoped(select(Conversation), principal)
    # pk_search_terms (workspace_id, term_hash, ...): one index range per word.
    for word in wanted:
        query = query.where(
            Conversation.id.in_(
                select(SearchTerm.conversation_id).where(
                    SearchTerm.workspace_id == principal.workspace_id,
                    SearchTerm.term_hash == term_hash(rt, principal.workspace_id, word),
                )
            )
        )
    if label_id is not None:
        query = query.where(label_filter(label_id))
    if channel is not None:
        query = query.where(Conversation.channel == channel)
    if status is not None:
        query = query.where(Conversation.status == status)
    if since is not None:
        query = query.where(Conversation.created_at >= since)
    if until is not None:
        query = query.where(Conversation.created_at < until)
    async with rt.db.transaction() as session:
        if visitor_email and principal.role is not Role.ADMIN:
            # A match would confirm an address the working view hides (policy.visitor_view).
            raise Forbidden(
                "Searching by e-mail address is for admins: agents do not see addresses.",
                field="email",
            )
        if visitor_email:
            # The blind index finds the person without an e-mail column to search.
            subjects = await rt.vault.find_subjects(
                session, workspace_id=principal.workspace_id, field="email", value=visitor_email
            )
            query = query.where(
                Conversation.visitor_id.in_(
                    select(Visitor.id).where(Visitor.subject_id.in_(subjects))
                )
            )
        query = query.order_by(Conversation.created_at.desc(), Conversation.id).limit(
            max(1, min(limit, RESULT_LIMIT))
        )
        rows = list((await session.scalars(query)).all())
        items = [events.conversation_facts(c) for c in rows]
        # Like a list: one record naming every visitor returned; no words (they may be
        # personal data), only which criteria were used.
        profiles = await visitor_profiles(
            session,
            rt,
            principal,
            {c.visitor_id: policy.visitor_view(principal, c) for c in rows},
            action="conversation.search",
            resource="conversations",
            details={
                "count": len(rows),
                "by_words": bool(text and text.strip()),
                "by_email": bool(visitor_email),
            },
        )
        for item, conversation in zip(items, rows, strict=True):
            item["visitor"] = profiles.get(conversation.visitor_id)
    return items
