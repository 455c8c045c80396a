"""Tables of the chat: visitors, conversations, messages, presence and channel endpoints.

Nothing here names a person. A visitor is a random VUID plus a subject in the vault (where
identify puts e-mail, name, phone and custom attributes); message bodies and survey comments
are vault rows keyed by message id. What stays here is what routing, delivery and statistics
need: who is assigned, in which group, which sequence number, when.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id, value_enum


class Channel(enum.StrEnum):
    WEB = "web"
    SOCIAL = "social"
    CALL = "call"
    SMS = "sms"
    VIDEO = "video"


class ConversationStatus(enum.StrEnum):
    WAITING = "waiting"
    OPEN = "open"
    CLOSED = "closed"


class ConversationLifecycle(enum.StrEnum):
    """Where a conversation is in its retention life (``confide.access.policy`` decides who
    may open it in each state)."""

    ACTIVE = "active"  # operational: the chat room works it
    ARCHIVED = "archived"  # restricted archive: only an archive custodian with a justification


class AuthorKind(enum.StrEnum):
    VISITOR = "visitor"
    OPERATOR = "operator"
    BOT = "bot"
    SYSTEM = "system"


class Availability(enum.StrEnum):
    AVAILABLE = "available"
    AWAY = "away"


class Visitor(Base):
    __tablename__ = "visitors"
    __table_args__ = (UniqueConstraint("workspace_id", "vuid", name="uq_visitors_workspace_vuid"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    # Random, issued by the server, never derived from anything about the person.
    vuid: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="RESTRICT"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # ix_conversations_inbox: the inbox lists a workspace's conversations by status/group.
        Index("ix_conversations_inbox", "workspace_id", "status", "group_id", "created_at"),
        # ix_conversations_assignee: an agent's open chats (caps, round-robin).
        Index("ix_conversations_assignee", "assignee_id", "status"),
        # uq_conversations_thread: one conversation per external thread of a social/SMS channel
        # (matched by the thread id's keyed hash: the id itself may be a phone number).
        UniqueConstraint(
            "workspace_id", "channel", "external_thread_index", name="uq_conversations_thread"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "conversation_channel"))
    status: Mapped[ConversationStatus] = mapped_column(
        value_enum(ConversationStatus, "conversation_status"), default=ConversationStatus.WAITING
    )
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    # The provider's thread id: a keyed hash to find the conversation again, and a copy sealed
    # under the conversation's data key to address replies (see Vault.thread_index).
    external_thread_index: Mapped[str | None] = mapped_column(String(64))
    external_thread_sealed: Mapped[str | None] = mapped_column(Text)
    # Call/video facts (duration, direction, ...): never the stream itself.
    call_metadata: Mapped[dict[str, object] | None] = mapped_column(JSON)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    # What the widget knew when the visitor started the chat (page views, seconds on site,
    # language, path): kept in the browser until then, sent only with the conversation.
    visitor_context: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # Data states the policy reads (confide.access.policy.conversation_rule): the retention
    # stage, the subject's restriction of processing (GDPR Art. 18: hidden from agents) and a
    # legal hold (blocks destruction, not reading). Flags, because they combine.
    lifecycle: Mapped[ConversationLifecycle] = mapped_column(
        value_enum(ConversationLifecycle, "conversation_lifecycle"),
        default=ConversationLifecycle.ACTIVE,
        server_default=ConversationLifecycle.ACTIVE.value,
    )
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # uq_messages_seq: the per-conversation order; resume reads seq > since through it.
        UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
        # uq_messages_client_id: a retried send with the same client id is stored once.
        UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    client_id: Mapped[str | None] = mapped_column(String(64))
    author_kind: Mapped[AuthorKind] = mapped_column(value_enum(AuthorKind, "message_author_kind"))
    author_operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16), default="text")  # text, event, csat
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What redaction masked before storage, as counts per kind ({"card": 1, "iban": 0, ...});
    # never the masked text. None when the workspace's policy checks for nothing.
    redactions: Mapped[dict[str, int] | None] = mapped_column(JSON)


class OperatorPresence(Base):
    __tablename__ = "operator_presence"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    availability: Mapped[Availability] = mapped_column(
        value_enum(Availability, "operator_availability"), default=Availability.AWAY
    )
    max_concurrent_chats: Mapped[int] = mapped_column(Integer, default=5)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelEndpoint(Base):
    """A workspace's bridge for a social/SMS channel: inbound webhook secret, outbound URL."""

    __tablename__ = "channel_endpoints"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel", name="uq_channel_endpoints_channel"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "endpoint_channel"))
    signing_secret: Mapped[str] = mapped_column(String(64))
    outbound_url: Mapped[str | None] = mapped_column(String(500))
    # Where the receiver of outbound replies is (ISO 3166-1); None: the deployment's region.
    outbound_country: Mapped[str | None] = mapped_column(String(2))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ChannelDelivery(Base):
    """One operator reply to be POSTed to a social/SMS endpoint: written in the transaction that
    stores the message, so a crash between commit and delivery loses nothing. No text here: the
    body is read from the vault at each attempt."""

    __tablename__ = "channel_deliveries"
    __table_args__ = (
        # ix_channel_deliveries_listing: an admin's list of (failed) deliveries, newest first.
        Index("ix_channel_deliveries_listing", "workspace_id", "status", "created_at"),
        # ix_channel_deliveries_due: pending deliveries whose next attempt is due.
        Index("ix_channel_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    channel: Mapped[Channel] = mapped_column(value_enum(Channel, "delivery_channel"))
    status: Mapped[DeliveryStatus] = mapped_column(
        value_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # Why the last attempt failed, as a short code (e.g. "http_500", "ConnectError"): never a
    # response body, which could echo personal data.
    last_error: Mapped[str | None] = mapped_column(String(64))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WidgetSettings(Base):
    """How a workspace's widget looks and behaves on the host site (confide.chat.widget_settings).

    A workspace without a row gets the defaults; the row is written the first time an admin
    changes a setting."""

    __tablename__ = "workspace_widget_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    accent_color: Mapped[str] = mapped_column(String(7), default="#2f5bea")  # "#RRGGBB"
    position: Mapped[str] = mapped_column(String(8), default="right")  # right, left
    title: Mapped[str] = mapped_column(String(60))
    greeting: Mapped[str] = mapped_column(String(300))
    launcher_label: Mapped[str] = mapped_column(String(40))
    prechat_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    prechat_ask_name: Mapped[bool] = mapped_column(Boolean, default=True)
    prechat_ask_email: Mapped[bool] = mapped_column(Boolean, default=False)
    csat_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Proactive greetings, evaluated in the visitor's browser (never on the server).
    engagement_rules: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    # Origins ("https://host[:port]") allowed to embed the widget; empty means any.
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    # "auto" follows the visitor's prefers-color-scheme; "light" and "dark" force one.
    theme: Mapped[str] = mapped_column(String(8), default="auto")
    # Admins' wording per language, over the shipped tables: {"de": {"endChat": "..."}}.
    strings: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupHours(Base):
    """When a group answers chats (confide.chat.hours): its time zone, weekly opening hours,
    holidays and the reply time it promises when nobody is available. A group without a row is
    always open."""

    __tablename__ = "group_hours"

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    time_zone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. "Europe/Berlin"
    # {"mon": [["09:00", "17:30"]], ..., "sun": []}: local times, end after start.
    weekly: Mapped[dict[str, list[list[str]]]] = mapped_column(JSON, default=dict)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)  # ["2026-12-25", ...]
    expected_reply_minutes: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RelayedClientId(Base):
    """With transcripts off, the client ids of a conversation's latest relayed messages, so a
    retry after a reconnect is answered as a duplicate instead of being relayed twice. No text:
    only what the acknowledgement repeats (id, seq). The newest ``RELAYED_CLIENT_IDS_KEPT`` per
    conversation are kept (``confide.chat.exactly_once``)."""

    __tablename__ = "relayed_client_ids"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[uuid.UUID] = mapped_column()
    seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboundReceipt(Base):
    """One provider message accepted by a social/SMS endpoint, keyed by a keyed hash of the
    provider's message id: a redelivery (even after its conversation closed) is answered as a
    duplicate, never stored again. Deleted with the conversation it went to."""

    __tablename__ = "inbound_receipts"

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel_endpoints.id", ondelete="CASCADE"), primary_key=True
    )
    provider_message_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column()
    seq: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedReply(Base):
    """A canned answer an operator inserts with ``/shortcut``: workspace-wide (no owner) or
    personal (``owner_operator_id``). Shortcuts are unique per owner within a workspace."""

    __tablename__ = "saved_replies"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    owner_operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    shortcut: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationNote(Base):
    """An operator's internal note on a conversation: never shown or sent to the visitor.
    The text is personal data about the visitor, sealed under the conversation's data key
    (``Vault.seal_note``), so erasing the conversation's key makes it unreadable everywhere."""

    __tablename__ = "conversation_notes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    body_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Label(Base):
    """A workspace's label for conversations (``billing``, ``bug``...), set by operators."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_labels_workspace_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationLabel(Base):
    __tablename__ = "conversation_labels"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    # ix_conversation_labels_label_id: the inbox filter by label.
    label_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SearchTerm(Base):
    """One entry of the word index: a keyed hash of a word (per workspace) that occurs in a
    conversation's stored messages. No word is stored; see ``confide/chat/search.py``."""

    __tablename__ = "search_terms"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    term_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    # ix_search_terms_conversation_id: erasure and retention drop a conversation's entries.
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
