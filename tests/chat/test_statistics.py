"""Statistics rows are computed in the database (one ``INSERT ... SELECT`` per batch) and must
equal the rule they implement, on both backends: seconds truncated to the microsecond and
never negative, the UTC day or, below five conversations of a group that day, the Monday of
its week, message counts by author kind, the outcome, and a fresh random id per row."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from confide.chat.models import AuthorKind, Channel, Conversation, Message, Visitor
from confide.chat.statistics import record_statistics
from confide.privacy.models import Subject
from confide.privacy.retention.models import K_ANONYMITY, ConversationStatistics
from confide.runtime import Runtime
from tests.conftest import World


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, int((end - start).total_seconds()))


# (created, first response, assigned, closed, csat, messages by author kind)
QUIET: list[tuple[str, str | None, str | None, str | None, int | None, dict[str, int]]] = [
    # A Sunday just before midnight; answered 60.000001 s later, across the day.
    (
        "2024-03-10 23:59:59.999999",
        "2024-03-11 00:01:00",
        None,
        "2024-03-11 00:02:59.999998",
        5,
        {"visitor": 2, "operator": 1},
    ),
    # Fractions that truncate: 0.999999 s to answer, 300.4 s in all.
    (
        "2024-03-13 10:00:00.500000",
        "2024-03-13 10:00:01.499999",
        "2024-03-13 10:00:00.900000",
        "2024-03-13 10:05:00.900000",
        None,
        {"visitor": 3, "operator": 2, "bot": 1, "system": 1},
    ),
    # Never answered, closed "before" it started (a clock step): 0, not negative.
    ("2024-03-13 12:00:00", None, None, "2024-03-13 11:59:00", 1, {}),
    # Never closed: no handling or duration.
    ("2024-03-17 08:30:00.000001", None, None, None, None, {"visitor": 1}),
]


async def _conversation(
    tx: Any, workspace_id: uuid.UUID, group_id: uuid.UUID | None, facts: tuple[Any, ...]
) -> uuid.UUID:
    created, first, assigned, closed, csat, messages = facts
    subject = Subject(id=uuid.uuid4(), workspace_id=workspace_id, kind="visitor")
    visitor = Visitor(
        id=uuid.uuid4(), workspace_id=workspace_id, vuid=uuid.uuid4().hex, subject_id=subject.id
    )
    conversation = Conversation(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        visitor_id=visitor.id,
        channel=Channel.WEB,
        group_id=group_id,
        created_at=_at(created),
        first_response_at=_at(first) if first else None,
        assigned_at=_at(assigned) if assigned else None,
        closed_at=_at(closed) if closed else None,
        csat_score=csat,
    )
    for row in (subject, visitor, conversation):  # parents first: no ORM relationships here
        tx.add(row)
        await tx.flush()
    seq = 0
    for kind, n in messages.items():
        for _ in range(n):
            seq += 1
            tx.add(Message(conversation_id=conversation.id, seq=seq, author_kind=AuthorKind(kind)))
    return conversation.id


def _expected(facts: tuple[Any, ...], period: str) -> dict[str, Any]:
    created, first, assigned, closed, csat, messages = facts
    start, day = _at(created), _at(created).date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    first_at, closed_at = (_at(first) if first else None), (_at(closed) if closed else None)
    return {
        "day": day,
        "period": period,
        "channel": "web",
        **{f"{kind.value}_messages": messages.get(kind.value, 0) for kind in AuthorKind},
        "first_response_seconds": _seconds(start, first_at),
        "handling_seconds": _seconds(_at(assigned) if assigned else start, closed_at),
        "duration_seconds": _seconds(start, closed_at),
        "csat_score": csat,
        "outcome": "answered" if first else "unanswered",
    }


async def test_rows_computed_in_the_database_follow_the_rule_to_the_microsecond(
    world: World, rt: Runtime
) -> None:
    workspace_id = await world.workspace()
    group_id = await world.group("Billing")
    busy_day = (
        "2024-03-12 09:00:00.250000",
        "2024-03-12 09:00:30",
        None,
        "2024-03-12 09:10:00",
        4,
        {"visitor": 1},
    )
    cases: list[tuple[tuple[Any, ...], str, uuid.UUID | None]]
    cases = [(facts, "week", None) for facts in QUIET]
    cases += [(busy_day, "day", group_id)] * K_ANONYMITY  # five that day in one group
    cases += [(busy_day, "week", None)]  # the same day without a group: alone, so weekly
    async with rt.db.transaction() as tx:
        ids = [await _conversation(tx, workspace_id, group, facts) for facts, _, group in cases]
    async with rt.db.transaction() as tx:
        assert await record_statistics(tx, ids) == len(ids)
        assert await record_statistics(tx, ids) == 0  # written once
    async with rt.db.session() as session:
        rows = {
            row.conversation_id: row
            for row in (await session.scalars(select(ConversationStatistics))).all()
        }
    assert set(rows) == set(ids)
    for conversation_id, (facts, period, group) in zip(ids, cases, strict=True):
        row = rows[conversation_id]
        got = {name: getattr(row, name) for name in _expected(facts, period)}
        assert got == _expected(facts, period), facts
        assert row.workspace_id == workspace_id and row.group_id == group
    # A fresh random (version 4) id per row, never the conversation's.
    assert len({row.id for row in rows.values()}) == len(ids)
    assert all(row.id.version == 4 and row.id not in rows for row in rows.values())
