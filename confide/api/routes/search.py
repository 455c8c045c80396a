"""Search over the conversations the operator may see (``confide.chat.search``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep
from confide.chat import search
from confide.chat.models import Channel, ConversationStatus

router = APIRouter(tags=["conversations"])


@router.get("/search")
async def search_conversations(
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
    q: Annotated[str, Query(max_length=500)] = "",
    email: Annotated[str | None, Query(max_length=254)] = None,
    label_id: uuid.UUID | None = None,
    channel: Literal["web", "social", "call", "sms", "video"] | None = None,
    status: Literal["waiting", "open", "closed"] | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    found = await search.search_conversations(
        rt,
        principal,
        text=q,
        visitor_email=email or None,
        label_id=label_id,
        channel=Channel(channel) if channel else None,
        status=ConversationStatus(status) if status else None,
        since=since,
        until=until,
    )
    return {"conversations": found}
