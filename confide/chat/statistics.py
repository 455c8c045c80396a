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

from sqlalchemy import and_, case, func, insert, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from confide.chat.models import AuthorKind, Conversation, Message
from confide.core.id_lists import id_in
from confide.privacy.retention.models import K_ANONYMITY, ConversationStatistics


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


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
    inside the caller's transaction. Returns how many rows were written."""
    if not conversation_ids:
        return 0
    done = set(
        (
            await session.scalars(
                select(ConversationStatistics.conversation_id).where(
                    id_in(session, ConversationStatistics.conversation_id, conversation_ids)
                )
            )
        ).all()
    )
    todo = [cid for cid in conversation_ids if cid not in done]
    if not todo:
        return 0
    c = Conversation
    kinds = list(AuthorKind)
    # The conversations' facts and their messages counted by author kind, in one query:
    # uq_messages_seq leads with conversation_id, so the join reads the index.
    facts = (
        await session.execute(
            select(
                c.id,
                c.workspace_id,
                c.group_id,
                c.channel,
                c.created_at,
                c.first_response_at,
                c.assigned_at,
                c.closed_at,
                c.csat_score,
                *(func.sum(case((Message.author_kind == kind, 1), else_=0)) for kind in kinds),
            )
            .select_from(c)
            .outerjoin(Message, Message.conversation_id == c.id)
            .where(id_in(session, c.id, todo))
            .group_by(c.id)
        )
    ).all()
    counts = {(row[0], kind): int(row[9 + i] or 0) for row in facts for i, kind in enumerate(kinds)}
    k_counts = await _conversations_those_days(
        session, sorted({(f[1], f[2], f[4].astimezone(UTC).date()) for f in facts}, key=str)
    )
    values: list[dict[str, object]] = []
    for cid, workspace_id, group_id, channel, created, first, assigned, closed, csat, *_ in facts:
        day = created.astimezone(UTC).date()
        key = (workspace_id, group_id, day)
        period = "day"
        if k_counts[key] < K_ANONYMITY:
            period, day = "week", day - timedelta(days=day.weekday())
        values.append(
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "conversation_id": cid,
                "day": day,
                "period": period,
                "channel": channel.value,
                "group_id": group_id,
                "visitor_messages": counts[(cid, AuthorKind.VISITOR)],
                "operator_messages": counts[(cid, AuthorKind.OPERATOR)],
                "bot_messages": counts[(cid, AuthorKind.BOT)],
                "system_messages": counts[(cid, AuthorKind.SYSTEM)],
                "first_response_seconds": _seconds(created, first),
                "handling_seconds": _seconds(assigned or created, closed),
                "duration_seconds": _seconds(created, closed),
                "csat_score": csat,
                "outcome": "answered" if first else "unanswered",
            }
        )
    if values:
        await session.execute(insert(ConversationStatistics), values)
    return len(values)


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
