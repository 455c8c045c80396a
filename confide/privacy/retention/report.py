"""The retention report of a run, and what is overdue.

Per workspace and channel: what the run did (statistics written, archived, destroyed, held and
skipped, visitors erased), the oldest conversation still kept in active retention or the
archive, and when its next step is due. "Overdue" is a next step due more than
``OVERDUE_GRACE`` (a day) ago that no legal hold explains: the sign that retention stopped
working, shown as a banner on the console and mailed to admins
(``confide.privacy.retention.alerts``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from confide.access.models import Workspace
from confide.chat.models import Channel, Conversation, ConversationLifecycle
from confide.core.db import UnitOfWork
from confide.privacy import settings as privacy_settings
from confide.privacy.erasure import held_conversation_ids
from confide.privacy.retention.models import RetentionRunCount
from confide.privacy.retention.policy import OVERDUE_GRACE, ChannelPolicy, policies_of

HOLD_LOOKAHEAD = 50  # oldest conversations checked against the legal-hold hook
COUNTS = ("statistics", "archived", "destroyed", "held", "visitors_erased")


def _ended() -> Any:
    return func.coalesce(Conversation.closed_at, Conversation.created_at)


async def count_due(
    session: UnitOfWork, workspace_id: uuid.UUID, channel: Channel, rule: Any, held: Any
) -> tuple[int, int]:
    """``(due, held)``: conversations of the lane matching ``rule``, split by ``held`` (a
    WHERE clause: under a legal hold, ``end_of_life.held_rule``)."""
    # Grouped over a subquery: PostgreSQL cannot match a GROUP BY expression with parameters.
    flags = (
        select(case((held, 1), else_=0).label("is_held"))
        .where(Conversation.workspace_id == workspace_id, Conversation.channel == channel, rule)
        .subquery()
    )
    rows = await session.execute(select(flags.c.is_held, func.count()).group_by(flags.c.is_held))
    found = {bool(held): n for held, n in rows.all()}
    return found.get(False, 0), found.get(True, 0)


async def next_steps(
    session: UnitOfWork, workspace_id: uuid.UUID, policies: dict[str, ChannelPolicy]
) -> dict[str, dict[str, Any]]:
    """Per channel: the oldest conversation kept (not held), its next step and when it is due."""
    steps: dict[str, dict[str, Any]] = {}
    for channel, policy in policies.items():
        oldest: dict[str, datetime | None] = {}
        for lifecycle in ConversationLifecycle:
            rows = (
                await session.execute(
                    select(Conversation.id, _ended())
                    .where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.channel == Channel(channel),
                        Conversation.lifecycle == lifecycle,
                        Conversation.held.is_(False),
                    )
                    .order_by(_ended())
                    .limit(HOLD_LOOKAHEAD)
                )
            ).all()
            # Held data is not late: the legal-hold hook is asked about the oldest ones too.
            held = await held_conversation_ids(session, [row[0] for row in rows])
            oldest[lifecycle.value] = next((e for cid, e in rows if cid not in held), None)
        candidates: list[tuple[datetime, str, datetime]] = []
        active, archived = oldest["active"], oldest["archived"]
        if active is not None:
            due = policy.archive_due(active)
            if due is not None:
                candidates.append((due, "archive", active))
            candidates.append((policy.end_of_life_due(active), "end_of_life", active))
        if archived is not None:
            candidates.append((policy.end_of_life_due(archived), "end_of_life", archived))
        if candidates:
            due, step, ended = min(candidates)
            steps[channel] = {"next": step, "due": due.isoformat(), "oldest": ended.isoformat()}
        else:
            steps[channel] = {"next": None, "due": None, "oldest": None}
    return steps


async def build_report(session: UnitOfWork, run_id: uuid.UUID, as_of: datetime) -> dict[str, Any]:
    """The stored report of a run (JSON): ``{"as_of", "workspaces": {id: {channel: {...}}},
    "overdue": [workspace ids]}``."""
    counts = (
        await session.scalars(select(RetentionRunCount).where(RetentionRunCount.run_id == run_id))
    ).all()
    by_lane = {(str(c.workspace_id), c.channel): c for c in counts}
    workspaces: dict[str, Any] = {}
    overdue: list[str] = []
    for workspace_id in (await session.scalars(select(Workspace.id).order_by(Workspace.id))).all():
        policies = await policies_for_report(session, workspace_id)
        steps = await next_steps(session, workspace_id, policies)
        channels: dict[str, Any] = {}
        for channel in policies:
            row = by_lane.get((str(workspace_id), channel))
            done = {name: getattr(row, name) if row else 0 for name in COUNTS}
            skipped = {"legal_hold": done["held"]} if done["held"] else {}
            channels[channel] = {**done, "skipped": skipped, **steps[channel]}
        if is_overdue(steps, as_of):
            overdue.append(str(workspace_id))
        workspaces[str(workspace_id)] = channels
    return {"as_of": as_of.isoformat(), "workspaces": workspaces, "overdue": overdue}


async def policies_for_report(
    session: UnitOfWork, workspace_id: uuid.UUID
) -> dict[str, ChannelPolicy]:
    return policies_of(privacy_settings.render(await privacy_settings.load(session, workspace_id)))


def is_overdue(steps: dict[str, dict[str, Any]], now: datetime) -> bool:
    """Whether a next step was due more than a day before ``now``."""
    return any(
        step["due"] is not None and datetime.fromisoformat(step["due"]) < now - OVERDUE_GRACE
        for step in steps.values()
    )


async def overdue_channels(
    session: UnitOfWork, workspace_id: uuid.UUID, now: datetime
) -> dict[str, dict[str, Any]]:
    """The channels of a workspace whose next retention step is overdue by more than a day."""
    steps = await next_steps(
        session, workspace_id, await policies_for_report(session, workspace_id)
    )
    return {
        channel: step
        for channel, step in steps.items()
        if step["due"] is not None and datetime.fromisoformat(step["due"]) < now - OVERDUE_GRACE
    }
