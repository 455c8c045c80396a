"""Walking the subject data map for an export: which rows, which columns, in bounded batches.

Why: an access export (GDPR Art. 15, 20) must hold everything the map marks for export and
nothing else, and stay correct when a table is added. This module names no table of its own
(like ``confide.privacy.erasure``): a table whose map entry exports (``include`` or
``as_pseudonym``) and whose reach an owner of the subject leads to is read; its columns are
those the registry (``confide.privacy.registry``) marks for export, plus operational ones
(ids, channel, status: they link the records and say what they are); credentials and
columns marked ``export=False`` never leave.

Rows are read by keyset over the primary key, ``ROW_BATCH`` at a time, so a subject with a
million rows never holds more than one batch. Sealed values are opened through the one access
path (``confide.privacy.access.SubjectDataReader``). Rows of an archived or restricted
conversation carry ``_marks`` (``archived``, ``restricted``, GDPR Art. 18).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, Select, Table, and_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from confide.core.db import Base
from confide.privacy.access import SEALED_COLUMNS, SubjectDataReader
from confide.privacy.export_files import plain
from confide.privacy.registry import REGISTRY
from confide.privacy.subject_map import SUBJECT_MAP, Owner, SubjectRef, TableMap

ROW_BATCH = 500
ID_CHUNK = 500
MARKS_COLUMN = "_marks"


def exported_tables() -> list[tuple[str, TableMap]]:
    """``(table, map entry)`` of every table the map exports, in map order."""
    return [(name, entry) for name, entry in SUBJECT_MAP.items() if entry.export != "exclude"]


def exported_columns(table_name: str) -> list[str]:
    """The columns of ``table_name`` an export carries, in schema order (see module doc)."""
    registry = REGISTRY[table_name].columns
    return [
        column.name
        for column in Base.metadata.tables[table_name].columns
        if (c := registry.get(column.name)) is not None
        and c.category != "credential"
        and (c.export or c.category == "operational")
    ]


@dataclass
class Walk:
    """One subject's owners (the ids each owner kind leads to) and the marks of their
    archived or restricted conversations."""

    session: AsyncSession
    reader: SubjectDataReader
    subject: SubjectRef
    owners: dict[Owner, Any]
    marks: dict[uuid.UUID, list[str]] = field(default_factory=dict)

    def applies(self, table_name: str) -> bool:
        """Whether an owner of this subject reaches ``table_name``."""
        return any(r.owner in self.owners for r in SUBJECT_MAP[table_name].reach)

    def scopes(self, table_name: str) -> list[Scope]:
        """Pieces that together select the subject's rows of ``table_name`` once.

        With one reach (always so today) and a list of ids, rows are paged in (reach column,
        primary key) order, ``ID_CHUNK`` ids per piece, and each next page asks for "the same
        id, later key" or "a later id in the list" (``_after``): the database walks the reach
        column's index and never a large table in key order (a row comparison on a composite
        index would, on PostgreSQL). Several reaches are joined with OR, paged by key."""
        table = _t(table_name)
        reaches = [r for r in SUBJECT_MAP[table_name].reach if r.owner in self.owners]
        if len(reaches) != 1 or isinstance(self.owners[reaches[0].owner], Select):
            where = [table.c[r.column].in_(self.owners[r.owner]) for r in reaches]
            return [Scope(or_(*where), None, [])] if where else []
        column = table.c[reaches[0].column]
        return [
            Scope(column.in_(chunk), column, chunk)
            for chunk in _chunks(self.owners[reaches[0].owner])
        ]


@dataclass(frozen=True)
class Scope:
    """Rows ``where`` selects; ``column``/``ids``: the reach column and its ids (sorted as the
    database sorts them), when the rows are paged by that column."""

    where: ColumnElement[bool]
    column: Column[Any] | None
    ids: list[Any]


def _greater(columns: list[Column[Any]], values: tuple[Any, ...]) -> ColumnElement[bool]:
    return columns[0] > values[0] if len(columns) == 1 else tuple_(*columns) > tuple_(*values)


def _after(
    column: Column[Any],
    ids: list[Any],
    last: Any,
    rest: list[Column[Any]],
    last_rest: tuple[Any, ...],
) -> ColumnElement[bool]:
    """Rows after ``(last, last_rest)`` in (``column``, ``rest``) order, among ``ids``."""
    later = ids[ids.index(last) + 1 :]
    same = and_(column == last, _greater(rest, last_rest))
    return or_(same, column.in_(later)) if later else same


def _t(name: str) -> Table:
    return Base.metadata.tables[name]


async def open_walk(
    session: AsyncSession, reader: SubjectDataReader, subject: SubjectRef, subject_id: uuid.UUID
) -> Walk:
    """The owners of ``subject`` (as ``confide.privacy.erasure`` resolves them) and marks."""
    owners: dict[Owner, Any] = {"subject": [subject_id], subject.kind: [subject.person_id]}
    walk = Walk(session, reader, subject, owners)
    if subject.kind == "visitor":
        conversations = _t("conversations")
        # ix_conversations_visitor_id; ids in the order the database sorts them (transcripts
        # merge two streams in this order).
        owners["conversation"] = list(
            (
                await session.scalars(
                    select(conversations.c.id)
                    .where(conversations.c.visitor_id == subject.person_id)
                    .order_by(conversations.c.id)
                )
            ).all()
        )
        messages = _t("messages")
        owners["message"] = (
            select(messages.c.id)
            .join(conversations, conversations.c.id == messages.c.conversation_id)
            .where(conversations.c.visitor_id == subject.person_id)
        )
        flagged = await session.execute(
            select(conversations.c.id, conversations.c.lifecycle, conversations.c.restricted)
            .where(conversations.c.visitor_id == subject.person_id)
            .where(or_(conversations.c.lifecycle != "active", conversations.c.restricted))
        )
        for conversation_id, lifecycle, restricted in flagged.all():
            walk.marks[conversation_id] = _marks_of(lifecycle, restricted)
    else:
        sessions = _t("auth_sessions")
        owners["auth_session"] = select(sessions.c.id).where(
            sessions.c.operator_id == subject.person_id
        )
    return walk


def _marks_of(lifecycle: Any, restricted: Any) -> list[str]:
    marks = []
    if str(getattr(lifecycle, "value", lifecycle)) == "archived":
        marks.append("archived")
    if restricted:
        marks.append("restricted")
    return marks


async def table_rows(walk: Walk, table_name: str) -> AsyncIterator[list[dict[str, Any]]]:
    """The subject's rows of ``table_name`` as export-ready dicts (exported columns, sealed
    values opened, ``_marks`` where a conversation is archived or restricted), in batches of
    at most ``ROW_BATCH`` by primary key."""
    table = _t(table_name)
    columns = exported_columns(table_name)
    primary = list(table.primary_key.columns)
    for scope in walk.scopes(table_name):
        by_column = scope.column is not None and not scope.column.primary_key
        key = [scope.column, *primary] if by_column and scope.column is not None else primary
        query = select(table).where(scope.where).order_by(*key).limit(ROW_BATCH)
        last: tuple[Any, ...] | None = None
        while True:
            page = query
            if last is not None and by_column and scope.column is not None:
                page = page.where(_after(scope.column, scope.ids, last[0], primary, last[1:]))
            elif last is not None:
                page = page.where(_greater(primary, last))
            rows = (await walk.session.execute(page)).mappings().all()
            if rows:
                yield await _render(walk, table_name, columns, rows)
            if len(rows) < ROW_BATCH:
                break
            last = tuple(rows[-1][c.name] for c in key)


async def _render(
    walk: Walk, table_name: str, columns: list[str], rows: Any
) -> list[dict[str, Any]]:
    rendered = []
    for row in rows:
        out: dict[str, Any] = {}
        for column in columns:
            value = row[column]
            if (table_name, column) in SEALED_COLUMNS:
                value = await walk.reader.open_column(table_name, column, row)
            out[column] = plain(value)
        marks = _row_marks(walk, table_name, row)
        if marks:
            out[MARKS_COLUMN] = marks
        rendered.append(out)
    return rendered


def _row_marks(walk: Walk, table_name: str, row: Any) -> list[str]:
    if table_name == "conversations":
        return _marks_of(row["lifecycle"], row["restricted"])
    conversation_id = row.get("conversation_id")
    return walk.marks.get(conversation_id, []) if conversation_id is not None else []


async def conversations_of(walk: Walk) -> AsyncIterator[dict[str, Any]]:
    """The visitor's conversations (id, channel, status, times), by id, in batches."""
    if walk.subject.kind != "visitor":
        return
    c = _t("conversations").c
    for chunk in _chunks(walk.owners["conversation"]):
        rows = await walk.session.execute(
            select(c.id, c.channel, c.status, c.created_at, c.closed_at)
            .where(c.id.in_(chunk))
            .order_by(c.id)
        )
        for row in rows.mappings().all():
            yield {k: plain(v) for k, v in row.items()} | {"id": row["id"]}


def _chunks(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    return [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)]


Message = tuple[str, Any, str | None]  # (author, created_at, text)


async def transcript_messages(
    walk: Walk, known_texts: dict[str, Any] | None = None
) -> AsyncIterator[tuple[uuid.UUID, list[Message]]]:
    """``(conversation id, messages)`` of all the visitor's conversations, in conversation id
    then ``seq`` order (the unique index on conversation and sequence), one keyset page of
    ``ROW_BATCH`` messages per query whatever the number of conversations. ``known_texts``
    (``{message id as str: text}``, already opened for this export) saves decrypting again."""
    if walk.subject.kind != "visitor":
        return
    m = _t("messages")
    for chunk in _chunks(walk.owners["conversation"]):
        query = (
            select(m.c.id, m.c.conversation_id, m.c.seq, m.c.author_kind, m.c.created_at)
            .where(m.c.conversation_id.in_(chunk))
            .order_by(m.c.conversation_id, m.c.seq)
            .limit(ROW_BATCH)
        )
        last: tuple[Any, Any] | None = None
        while True:
            page = query
            if last is not None:
                page = page.where(_after(m.c.conversation_id, chunk, last[0], [m.c.seq], last[1:]))
            rows = (await walk.session.execute(page)).all()
            if known_texts is not None:
                texts = known_texts
            else:
                opened = await walk.reader.texts_of(walk.session, [row.id for row in rows])
                texts = {str(k): v for k, v in opened.items()}
            group: list[Message] = []
            for n, row in enumerate(rows):
                author = _AUTHORS.get(str(plain(row.author_kind)), "System")
                group.append((author, plain(row.created_at), texts.get(str(row.id))))
                if n + 1 == len(rows) or rows[n + 1].conversation_id != row.conversation_id:
                    yield row.conversation_id, group
                    group = []
            if len(rows) < ROW_BATCH:
                break
            last = (rows[-1].conversation_id, rows[-1].seq)


class TranscriptCursor:
    """Hands each conversation its messages from one stream ordered by conversation id (the
    order ``conversations_of`` lists them in), so 200 transcripts cost a few queries, not
    200."""

    def __init__(self, stream: AsyncIterator[tuple[uuid.UUID, list[Message]]]) -> None:
        self._stream = stream
        self._head: tuple[uuid.UUID, list[Message]] | None = None
        self._done = False

    async def _peek(self) -> tuple[uuid.UUID, list[Message]] | None:
        if self._head is None and not self._done:
            try:
                self._head = await anext(self._stream)
            except StopAsyncIteration:
                self._done = True
        return self._head

    async def take(self, conversation_id: uuid.UUID) -> AsyncIterator[list[Message]]:
        """The messages of ``conversation_id``; skips those of conversations listed earlier
        in the stream but not in the caller's list (created since it was read)."""
        while (head := await self._peek()) is not None and head[0].int <= conversation_id.int:
            self._head = None
            if head[0] == conversation_id:
                yield head[1]


_AUTHORS = {"visitor": "You", "operator": "Agent", "bot": "Bot", "system": "System"}
