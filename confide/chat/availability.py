"""Who is available and how loaded they are: the team view for admins and managers.

Availability is stored per operator (``operator_presence``) and only the operator changes it,
so it survives signing out and in again; an operator who never set it is *away*. The load is
the number of open conversations assigned to the operator against their cap.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import TypedDict

from sqlalchemy import func, select

from confide.chat.models import Availability, Conversation, ConversationStatus, OperatorPresence
from confide.runtime import Runtime


class TeamLoad(TypedDict):
    availability: str  # "available" | "away"
    open_chats: int
    max_concurrent_chats: int


async def team_load(rt: Runtime, operator_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, TeamLoad]:
    """Availability and open-chat count of each operator in ``operator_ids`` (two queries).

    The caller has already decided, through the policy, that these operators may be listed."""
    ids = list(operator_ids)
    if not ids:
        return {}
    async with rt.db.session() as session:
        presences = {
            p.operator_id: p
            for p in (
                await session.scalars(
                    select(OperatorPresence).where(OperatorPresence.operator_id.in_(ids))
                )
            ).all()
        }
        # ix_conversations_assignee
        counts = dict(
            (
                await session.execute(
                    select(Conversation.assignee_id, func.count())
                    .where(
                        Conversation.assignee_id.in_(ids),
                        Conversation.status == ConversationStatus.OPEN,
                    )
                    .group_by(Conversation.assignee_id)
                )
            ).all()
        )
    result: dict[uuid.UUID, TeamLoad] = {}
    for operator_id in ids:
        presence = presences.get(operator_id)
        result[operator_id] = TeamLoad(
            availability=(presence.availability if presence else Availability.AWAY).value,
            open_chats=int(counts.get(operator_id, 0)),
            max_concurrent_chats=(
                presence.max_concurrent_chats
                if presence
                else rt.settings.default_max_concurrent_chats
            ),
        )
    return result
