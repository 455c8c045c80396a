"""The last words of each conversation in an inbox list, so a reloaded page shows the same
previews as the live one (``inbox.js`` sets them from message events).

The caller has already listed these conversations through the policy and audited the list;
this reads only their newest text message (or rating comment), decrypted by the vault.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import TypedDict

from sqlalchemy import and_, func, select

from confide.chat.models import AuthorKind, Message
from confide.chat.routing import agent_card
from confide.runtime import Runtime

PREVIEW_CHARS = 80  # the same cut as inbox.js
_PREVIEWED_KINDS = ("text", "csat")


class Preview(TypedDict):
    text: str  # "Alias: words…" for an operator's message
    kind: str  # "text" | "csat"


def _cut(body: str) -> str:
    return f"{body[:PREVIEW_CHARS]}…" if len(body) > PREVIEW_CHARS else body


async def last_message_previews(
    rt: Runtime, conversation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Preview]:
    """``{conversation_id: preview}`` for the conversations that have a stored message."""
    ids = list(conversation_ids)
    if not ids:
        return {}
    async with rt.db.session() as session:
        # uq_messages_seq: the newest previewable seq of each conversation, then those rows.
        newest = (
            select(Message.conversation_id, func.max(Message.seq).label("seq"))
            .where(Message.conversation_id.in_(ids), Message.kind.in_(_PREVIEWED_KINDS))
            .group_by(Message.conversation_id)
            .subquery()
        )
        rows = list(
            (
                await session.scalars(
                    select(Message).join(
                        newest,
                        and_(
                            Message.conversation_id == newest.c.conversation_id,
                            Message.seq == newest.c.seq,
                        ),
                    )
                )
            ).all()
        )
        texts = await rt.vault.read_message_texts(session, [m.id for m in rows])
        previews: dict[uuid.UUID, Preview] = {}
        for message in rows:
            body = texts.get(message.id)
            if body is None:
                continue
            text = _cut(body)
            if message.kind == "csat":
                text = f"Rating comment: {text}"
            if message.author_kind is AuthorKind.OPERATOR and message.author_operator_id:
                card = await agent_card(rt, session, message.author_operator_id)
                text = f"{(card or {}).get('alias') or 'Agent'}: {text}"
            previews[message.conversation_id] = Preview(text=text, kind=message.kind)
    return previews
