"""Channel names and event payloads published after commit.

Channels: ``conv:<conversation id>`` carries messages, typing, read receipts and status of one
conversation; ``ws:<workspace id>`` carries conversation lifecycle and presence for consoles;
``op:<operator id>`` tells an operator's open sockets that their rights changed.
Workspace and operator events carry ids and facts, never names or message text; only
``conv:`` message events carry the text, to the sockets the policy let subscribe.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confide.chat.models import Conversation, Message
from confide.core.db import UnitOfWork
from confide.realtime.fanout.channels import (
    conversation_channel,
    operator_channel,
    workspace_channel,
)

if TYPE_CHECKING:
    from confide.realtime.fanout.broker import Broker

__all__ = [
    "conversation_changed",
    "conversation_channel",
    "conversation_event",
    "conversation_facts",
    "message_event",
    "operator_channel",
    "publish",
    "workspace_channel",
]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def conversation_facts(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "workspace_id": str(conversation.workspace_id),
        "visitor_id": str(conversation.visitor_id),
        "channel": conversation.channel.value,
        "status": conversation.status.value,
        "group_id": str(conversation.group_id) if conversation.group_id else None,
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        "last_seq": conversation.last_seq,
        "created_at": _iso(conversation.created_at),
        "first_response_at": _iso(conversation.first_response_at),
        "closed_at": _iso(conversation.closed_at),
        "csat_score": conversation.csat_score,
        # Data states the consoles' policy check needs (confide.realtime.socket_access).
        "lifecycle": conversation.lifecycle.value,
        "restricted": conversation.restricted,
    }


def conversation_event(
    conversation: Conversation, change: str, agent: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "conversation",
        "change": change,
        "conversation": conversation_facts(conversation),
        "agent": agent,
    }


def message_event(message: Message, body: str | None, author: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation_id": str(message.conversation_id),
        "id": str(message.id),
        "seq": message.seq,
        "client_id": message.client_id,
        "kind": message.kind,
        "author": author,
        "body": body,
        "redactions": message.redactions,
        "created_at": _iso(message.created_at),
    }


def publish(tx: UnitOfWork, broker: Broker, channel: str, event: dict[str, Any]) -> None:
    """Publish ``event`` on ``channel`` once ``tx`` has committed (never for a rollback)."""
    tx.on_commit(broker.publish, channel, event)


def conversation_changed(
    tx: UnitOfWork,
    broker: Broker,
    conversation: Conversation,
    change: str,
    agent: dict[str, Any] | None = None,
) -> None:
    """Tell the workspace's consoles and the conversation's sockets, after commit, that the
    conversation changed (``created``, ``assigned``, ``transferred``, ``closed``, ...)."""
    event = conversation_event(conversation, change, agent)
    publish(tx, broker, workspace_channel(conversation.workspace_id), event)
    publish(tx, broker, conversation_channel(conversation.id), event)
