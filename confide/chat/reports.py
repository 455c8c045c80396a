"""Reports computed only from the anonymised statistics rows (``confide.chat.statistics``).

Why only those rows: a report must say the same before and after transcripts are destroyed,
and it must never need a person's data. Admins see the workspace, managers their groups,
analysts their groups pseudonymised (a group is named by a keyed pseudonym, not its name;
``confide.access.policy.report_scope``). Percentiles are nearest-rank over whole seconds.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access.models import Group
from confide.access.policy import Principal, report_scope
from confide.privacy.retention.models import ConversationStatistics

if TYPE_CHECKING:
    from confide.runtime import Runtime

PERCENTILES = (50, 90, 99)
CSAT_SCORES = (1, 2, 3, 4, 5)


def percentile(values: Sequence[int], p: int) -> int | None:
    """Nearest-rank percentile of ``values`` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarise(
    rows: Sequence[ConversationStatistics], group_names: dict[Any, str]
) -> dict[str, Any]:
    """The report of ``rows``: conversations per day, channel and group; first-response and
    handling-time percentiles (seconds); CSAT distribution and average."""
    per_day: Counter[tuple[str, str, str]] = Counter()
    for row in rows:
        per_day[(row.day.isoformat(), row.channel, group_names.get(row.group_id, "none"))] += 1
    first = [r.first_response_seconds for r in rows if r.first_response_seconds is not None]
    handling = [r.handling_seconds for r in rows if r.handling_seconds is not None]
    scores = [r.csat_score for r in rows if r.csat_score is not None]
    return {
        "conversations": len(rows),
        "per_day": [
            {"day": day, "channel": channel, "group": group, "conversations": n}
            for (day, channel, group), n in sorted(per_day.items())
        ],
        "first_response_seconds": {f"p{p}": percentile(first, p) for p in PERCENTILES},
        "handling_seconds": {f"p{p}": percentile(handling, p) for p in PERCENTILES},
        "csat": {
            "distribution": {str(s): scores.count(s) for s in CSAT_SCORES},
            "average": round(sum(scores) / len(scores), 2) if scores else None,
        },
        "outcomes": dict(sorted(Counter(r.outcome for r in rows).items())),
    }


async def read_report(
    rt: Runtime, principal: Principal, *, start: date, end: date
) -> dict[str, Any]:
    """The report for ``principal`` over days ``start``..``end`` (inclusive). Raises
    ``Forbidden`` (403) for a role without reports."""
    scope = report_scope(principal)
    assert principal.workspace_id is not None
    query = select(ConversationStatistics).where(
        ConversationStatistics.workspace_id == principal.workspace_id,
        ConversationStatistics.day >= start,
        ConversationStatistics.day <= end,
    )  # ix_conversation_statistics_report
    if scope.group_ids is not None:
        query = query.where(ConversationStatistics.group_id.in_(sorted(scope.group_ids)))
    async with rt.db.session() as session:
        rows = (await session.scalars(query)).all()
        groups = (
            await session.execute(
                select(Group.id, Group.name).where(Group.workspace_id == principal.workspace_id)
            )
        ).all()
    names: dict[Any, str] = {}
    for group_id, name in groups:
        names[group_id] = _pseudonym(rt, group_id) if scope.pseudonymised else name
    return {"start": start.isoformat(), "end": end.isoformat(), **summarise(rows, names)}


def _pseudonym(rt: Runtime, group_id: uuid.UUID) -> str:
    return "group-" + rt.secret.keyed_hash("report-group", str(group_id))[:8]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run: text starting with ``= + - @`` (or a tab or
    carriage return) gets a leading apostrophe (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def report_csv(report: dict[str, Any]) -> str:
    """The report's per-day rows as CSV: day, channel, group, conversations."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["day", "channel", "group", "conversations"])
    for row in report["per_day"]:
        writer.writerow(
            [csv_cell(row[k]) for k in ("day", "channel", "group")] + [row["conversations"]]
        )
    return buffer.getvalue()
