"""Retention test helpers: conversations made through the real paths, runs at simulated dates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from confide.chat.conversations import do_start_conversation
from confide.chat.models import Channel, Conversation
from confide.chat.visitors import authenticate_visitor_token
from confide.privacy.retention.models import ConversationStatistics
from confide.runtime import Runtime
from tests.chat.helpers import new_visitor


@dataclass
class Seeded:
    conversation_id: uuid.UUID
    visitor_id: uuid.UUID
    token: str


async def seed_conversation(
    rt: Runtime,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    channel: Channel = Channel.WEB,
    *,
    texts: int = 2,
    csat: int | None = 4,
    close: bool = True,
) -> Seeded:
    """A visitor starts a conversation on ``channel``, writes, an admin answers and closes it,
    and the visitor rates it: every fact a statistics row is made of."""
    visitor = await new_visitor(client)
    principal = await authenticate_visitor_token(rt, visitor.token)
    assert principal.visitor_id is not None
    started = await do_start_conversation(
        rt, principal, visitor_id=principal.visitor_id, channel=channel
    )
    cid = started.conversation.id
    for n in range(texts):
        sent = await client.post(
            f"/api/v1/widget/conversations/{cid}/messages",
            json={"client_id": uuid.uuid4().hex, "body": f"Question {n} about my parcel"},
            headers=visitor.headers,
        )
        assert sent.status_code == 201, sent.text
    answer = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        json={"client_id": uuid.uuid4().hex, "body": "Here is the answer."},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    if close:
        closed = await client.post(f"/api/v1/conversations/{cid}/close", headers=admin)
        assert closed.status_code == 200, closed.text
        if csat is not None:
            rated = await client.post(
                f"/api/v1/widget/conversations/{cid}/csat",
                json={"score": csat},
                headers=visitor.headers,
            )
            assert rated.status_code == 200, rated.text
    return Seeded(cid, principal.visitor_id, visitor.token)


async def conversation_state(rt: Runtime, conversation_id: uuid.UUID) -> str:
    """``active``, ``archived`` or ``destroyed``."""
    async with rt.db.session() as session:
        conversation = await session.get(Conversation, conversation_id)
        return "destroyed" if conversation is None else conversation.lifecycle.value


async def ended_at(rt: Runtime, conversation_id: uuid.UUID) -> datetime:
    async with rt.db.session() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation.closed_at or conversation.created_at


async def statistics_rows(rt: Runtime) -> list[dict[str, Any]]:
    """Every statistics row, without its random id, ordered."""
    async with rt.db.session() as session:
        rows = (await session.execute(select(ConversationStatistics))).scalars().all()
    found = [
        {c.name: getattr(r, c.name) for c in r.__table__.columns if c.name != "id"} for r in rows
    ]
    return sorted(found, key=repr)


async def count(rt: Runtime, model: Any) -> int:
    async with rt.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def minute() -> timedelta:
    return timedelta(minutes=1)
