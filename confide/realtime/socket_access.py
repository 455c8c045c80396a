"""What an open socket may still see: the access checks a socket repeats while it lives.

Why apart from ``sockets``: these rules change with the access policy, the socket loop with the
delivery contract. A console's rights are re-checked when the broker says they changed (role,
groups, sessions, grants), when a conversation's assignment or group changes, when a grant the
principal holds lapses (support access, an archive opening: the loop wakes at the expiry), and
every ``REVALIDATE_SECONDS``; a conversation it may no longer read is dropped from the socket.
A widget sees only its own conversations, and of their changes only the fields it shows.
"""

from __future__ import annotations

import uuid
from typing import Any

from confide.access import auth, grant_store, policy
from confide.access.policy import ConversationFacts, Principal
from confide.chat import conversations
from confide.core.errors import ConfideError, InvalidToken, SocketClosed
from confide.runtime import Runtime

REVALIDATE_SECONDS = 60.0
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
READ = policy.ConversationAccess.READ
# What a widget is told of a change to its conversation (status, rating, ...).
WIDGET_CONVERSATION_FIELDS = (
    "id",
    "status",
    "channel",
    "created_at",
    "closed_at",
    "csat_score",
    "last_seq",
)


def wake_after(principal: Principal) -> float:
    """Seconds until the socket must check again: a grant that lapses ends its access at once,
    so the loop wakes then, not at the next revalidation."""
    lapse = grant_store.seconds_until_lapse(principal)
    return REVALIDATE_SECONDS if lapse is None else min(REVALIDATE_SECONDS, lapse + 0.01)


def _facts(data: dict[str, Any]) -> ConversationFacts:
    return ConversationFacts(
        id=uuid.UUID(data["id"]),
        lifecycle=data["lifecycle"],
        restricted=data["restricted"],
        workspace_id=uuid.UUID(data["workspace_id"]),
        group_id=uuid.UUID(data["group_id"]) if data.get("group_id") else None,
        assignee_id=uuid.UUID(data["assignee_id"]) if data.get("assignee_id") else None,
        status=data["status"],
        visitor_id=uuid.UUID(data["visitor_id"]) if data.get("visitor_id") else None,
    )


def console_may_work(principal: Principal, data: dict[str, Any]) -> bool:
    """Whether a console may work the conversation a ``conversation`` event describes (the
    event carries the policy's facts, ``confide.chat.events``)."""
    return policy.can_work_conversation(principal, _facts(data))


def widget_view(data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a ``conversation`` event's conversation that its widget is told."""
    return {k: data[k] for k in WIDGET_CONVERSATION_FIELDS}


async def reauthenticate(rt: Runtime, principal: Principal) -> Principal:
    """A console's principal reloaded (sessions, role, groups, grants). Raises ``SocketClosed``
    with ``CLOSE_UNAUTHENTICATED`` when its session ended, ``CLOSE_FORBIDDEN`` when its role
    no longer works conversations."""
    assert principal.session_id and principal.operator_id
    try:
        principal = await auth.authenticate_session(
            rt,
            principal.session_id,
            principal.operator_id,
            principal.workspace_id,  # a support account stays in the one it entered
        )
    except InvalidToken as exc:
        raise SocketClosed(CLOSE_UNAUTHENTICATED, "session ended") from exc
    return require_chat_room(principal)


def require_chat_room(principal: Principal) -> Principal:
    """``principal``, if it works conversations in a workspace; else ``SocketClosed`` with
    ``CLOSE_FORBIDDEN`` (at the handshake, and whenever a console's principal is reloaded)."""
    if principal.workspace_id is None or policy.Action.CONVERSATIONS_WORK not in (
        policy.allowed_actions(principal)
    ):
        raise SocketClosed(CLOSE_FORBIDDEN, "your role has no chat room")
    return principal


async def may_read(rt: Runtime, principal: Principal, conversation_id: uuid.UUID) -> bool:
    """Whether ``principal`` may still follow the conversation (reading is enough)."""
    async with rt.db.session() as session:
        try:
            await conversations.load_for(session, principal, conversation_id, access=READ)
        except ConfideError:
            return False
    return True
