"""Anonymised statistics of conversations: one row each, kept after end of life.

Why: reports (``confide.chat.reports``) must not change when transcripts are destroyed, so
they read only these rows, and each row is written once, from the conversation's own facts,
before anything of it is destroyed: by the retention job the day after the conversation
started (once it is closed), or at end of life at the latest. A row holds no id of a person,
no address and no free text: the day (or week), channel and group, message counts by author
kind, first-response, handling and total seconds, the CSAT score and the outcome. When the
group had fewer than ``K_ANONYMITY`` conversations that day, the row is kept per week instead
(its ``day`` is that week's Monday), so a row cannot single out a visitor by a quiet day.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    String,
    Uuid,
    and_,
    case,
    cast,
    extract,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import AuthorKind, Conversation, Message
from confide.core.id_lists import id_in
from confide.privacy.retention.models import K_ANONYMITY, ConversationStatistics


def _utc_day(dialect: str, at: Any) -> Any:
    """SQL: the UTC day of a timestamp column."""
    if dialect == "sqlite":
        # Stored as naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. Its first ten characters,
        # not date(): SQLite's date functions round to the millisecond, which moves
        # 23:59:59.9995 to the next day.
        return func.substr(at, 1, 10, type_=Date)
    return cast(func.timezone("UTC", at), Date)


def _monday(dialect: str, at: Any) -> Any:
    """SQL: the Monday of a timestamp's UTC week."""
    if dialect == "sqlite":
        # 'weekday 0' moves to the next Sunday (or stays on one); six days back is its Monday.
        return func.date(func.substr(at, 1, 10), "weekday 0", "-6 days", type_=Date)
    return cast(func.date_trunc("week", func.timezone("UTC", at)), Date)


def _seconds(dialect: str, start: Any, end: Any) -> Any:
    """SQL: whole seconds from ``start`` to ``end`` (truncated, at least 0), NULL when either
    is NULL; Python's ``max(0, int((end - start).total_seconds()))``, to the microsecond."""
    if dialect == "sqlite":
        # Whole seconds from the text without its fraction (strftime would round to the
        # millisecond first), microseconds from the fraction; integer division truncates.
        micros = (_epoch(end) - _epoch(start)) * 1_000_000 + (_micros(end) - _micros(start))
        seconds: Any = func.max(0, micros.self_group().op("/")(1_000_000))
    else:
        seconds = func.greatest(0, cast(func.floor(extract("epoch", end - start)), Integer))
    return case((and_(start.is_not(None), end.is_not(None)), seconds))


def _epoch(at: Any) -> Any:
    """SQL (SQLite): a stored timestamp's whole seconds since 1970."""
    return cast(func.strftime("%s", func.substr(at, 1, 19)), Integer)


def _micros(at: Any) -> Any:
    """SQL (SQLite): the microseconds of a stored timestamp, 0 when it has no fraction."""
    fraction = func.substr(at, 21, type_=String) + "000000"
    return cast(func.substr(fraction, 1, 6), Integer)


def _random_uuid(dialect: str) -> Any:
    """SQL: a random (version 4) UUID per row, as the column stores it."""
    if dialect != "sqlite":
        return func.gen_random_uuid(type_=Uuid)

    def hex_of(n: int) -> Any:
        return func.lower(func.hex(func.randomblob(n)), type_=String)

    # 32 hex digits (the Uuid column on SQLite), version 4 and the RFC 4122 variant.
    variant = func.substr("89ab", 1 + func.random().op("&")(3), 1, type_=String)
    return (
        hex_of(6)
        + "4"
        + func.substr(hex_of(2), 2, type_=String)
        + variant
        + func.substr(hex_of(2), 2, type_=String)
        + hex_of(6)
    )


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


DayKey = tuple[uuid.UUID, uuid.UUID | None, date]  # (workspace, group, UTC day)
# SQLite allows 500 terms in a compound SELECT; two per day counted.
_DAYS_PER_QUERY = 200


async def _conversations_those_days(session: AsyncSession, keys: list[DayKey]) -> dict[DayKey, int]:
    """Conversations of each group's day in ``keys``: those still here plus those already
    reduced to a statistics row (their link is gone) that kept the day. One query (a UNION ALL
    of two counts per day) for up to ``_DAYS_PER_QUERY`` days, so a batch costs one round trip
    however many days and groups it spans."""
    totals: dict[DayKey, int] = dict.fromkeys(keys, 0)
    for first in range(0, len(keys), _DAYS_PER_QUERY):
        chunk = keys[first : first + _DAYS_PER_QUERY]
        parts: list[Any] = []
        for i, (workspace_id, group_id, day) in enumerate(chunk, start=first):
            start, end = _day_bounds(day)
            parts.append(
                select(literal(i).label("k"), func.count().label("n"))
                .select_from(Conversation)
                .where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.group_id.is_not_distinct_from(group_id),
                    Conversation.created_at >= start,
                    Conversation.created_at < end,
                )
            )
            # ix_conversation_statistics_k
            parts.append(
                select(literal(i).label("k"), func.count().label("n"))
                .select_from(ConversationStatistics)
                .where(
                    ConversationStatistics.workspace_id == workspace_id,
                    ConversationStatistics.group_id.is_not_distinct_from(group_id),
                    ConversationStatistics.day == day,
                    ConversationStatistics.period == "day",
                    ConversationStatistics.conversation_id.is_(None),
                )
            )
        for k, n in (await session.execute(union_all(*parts))).all():
            totals[keys[k]] += n
    return totals


async def record_statistics(session: AsyncSession, conversation_ids: list[uuid.UUID]) -> int:
    """Write the statistics row of each conversation in ``conversation_ids`` that has none yet,
    inside the caller's transaction. Returns how many rows were written.

    Three statements whatever the batch size: the batch's (workspace, group, UTC day) keys,
    their k-anonymity counts, and one ``INSERT ... SELECT`` that computes every row in the
    database (the facts, message counts by author kind, seconds and the day or week), so no
    row travels to Python and back (``_row_values``)."""
    if not conversation_ids:
        return 0
    dialect = session.bind.dialect.name  # type: ignore[union-attr]
    c = Conversation
    day = _utc_day(dialect, c.created_at)
    pending = and_(
        id_in(session, c.id, conversation_ids),
        ~select(ConversationStatistics.id)
        .where(ConversationStatistics.conversation_id == c.id)
        .exists(),
    )
    keys = (
        await session.execute(select(c.workspace_id, c.group_id, day).where(pending).distinct())
    ).all()
    if not keys:
        return 0
    counted = await _conversations_those_days(
        session, sorted({(w, g, d) for w, g, d in keys}, key=str)
    )
    weekly = _weekly_rule(day, [key for key, n in counted.items() if n < K_ANONYMITY])
    columns, values = zip(*_row_values(dialect, day, weekly), strict=True)
    rows = (
        select(*values)
        .select_from(c)
        .outerjoin(Message, Message.conversation_id == c.id)  # uq_messages_seq leads with it
        .where(pending)
        .group_by(c.id)
    )
    result = await session.execute(insert(ConversationStatistics).from_select(list(columns), rows))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _weekly_rule(day: Any, coarse: list[DayKey]) -> Any:
    """SQL: the conversation's (workspace, group, day) is one of ``coarse`` (fewer than
    ``K_ANONYMITY`` conversations that day). One term per workspace and group, with an ``IN``
    list of its days: a flat condition however many quiet days a batch spans."""
    days: dict[tuple[uuid.UUID, uuid.UUID | None], list[date]] = {}
    for workspace_id, group_id, d in coarse:
        days.setdefault((workspace_id, group_id), []).append(d)
    if not days:
        return false()
    return or_(
        *(
            and_(
                Conversation.workspace_id == workspace_id,
                Conversation.group_id.is_not_distinct_from(group_id),
                day.in_(sorted(group_days)),
            )
            for (workspace_id, group_id), group_days in days.items()
        )
    )


def _row_values(dialect: str, day: Any, weekly: Any) -> list[tuple[str, Any]]:
    """The statistics row of one conversation (grouped with its messages) as SQL, column by
    column: no id of a person, the day or its week's Monday, counts, seconds, outcome."""
    c = Conversation
    counts = [
        (f"{kind.value}_messages", func.sum(case((Message.author_kind == kind, 1), else_=0)))
        for kind in AuthorKind
    ]
    return [
        ("id", _random_uuid(dialect)),
        ("workspace_id", c.workspace_id),
        ("conversation_id", c.id),
        ("day", case((weekly, _monday(dialect, c.created_at)), else_=day)),
        ("period", case((weekly, literal("week")), else_=literal("day"))),
        ("channel", c.channel),
        ("group_id", c.group_id),
        *counts,
        ("first_response_seconds", _seconds(dialect, c.created_at, c.first_response_at)),
        (
            "handling_seconds",
            _seconds(dialect, func.coalesce(c.assigned_at, c.created_at), c.closed_at),
        ),
        ("duration_seconds", _seconds(dialect, c.created_at, c.closed_at)),
        ("csat_score", c.csat_score),
        (
            "outcome",
            case((c.first_response_at.is_not(None), literal("answered")), else_="unanswered"),
        ),
    ]


def statistics_pending_rule(as_of: datetime) -> object:
    """Closed conversations, started before ``as_of``'s UTC day, without a statistics row:
    their day is complete, so the k-anonymity count of it is final."""
    day_start = datetime.combine(as_of.astimezone(UTC).date(), time(), tzinfo=UTC)
    missing = (
        ~select(ConversationStatistics.id)
        .where(ConversationStatistics.conversation_id == Conversation.id)
        .exists()
    )
    return and_(Conversation.closed_at.is_not(None), Conversation.created_at < day_start, missing)
