"""Tables of attachments and purpose-bound visitor attributes (issue 20).

Nothing here holds a file's bytes or a person's words in clear: file bytes live sealed in the
blob store (``confide.core.blobs``) under the conversation's data key, a file's name is sealed
under the same key, and an attribute value is sealed under the visitor's subject key. What
stays in clear is what limits, routing and expiry need: sizes, detected types, times.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id


class AttachmentSettings(Base):
    """A workspace's limits for attachments: on or off, largest file, which detected types."""

    __tablename__ = "workspace_attachment_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_bytes: Mapped[int] = mapped_column(Integer)
    # Detected file types accepted (``confide.chat.filetypes.FILE_TYPES`` names).
    allowed_types: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Attachment(Base):
    """One uploaded file of a conversation. ``blob_key``/``thumbnail_key`` name sealed blobs
    (AAD ``attachment:<id>`` / ``attachment:<id>:thumbnail``); the name is sealed too."""

    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # ix_attachments_conversation_id: a conversation's files (listing, erasure, retention).
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The "file" message that carries it in the transcript (ix_attachments_message_id).
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    uploader_kind: Mapped[str] = mapped_column(String(16))  # visitor | operator
    uploader_operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))  # image (re-encoded, inline) | document
    file_type: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    name_sealed: Mapped[str] = mapped_column(Text)
    blob_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttributeDefinition(Base):
    """A custom visitor attribute a workspace declares with its purpose and retention
    ("shoe size, for size advice, 90 days"): GDPR Art. 5(1)(b) purpose limitation and
    5(1)(e) storage limitation, per value."""

    __tablename__ = "visitor_attribute_definitions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_visitor_attribute_definitions_name"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(200))
    retention_days: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AttributeValue(Base):
    """One visitor's value of a declared attribute, sealed under the visitor's subject key
    (AAD ``attribute:<id>``); it expires on its own clock (``expires_at``)."""

    __tablename__ = "visitor_attribute_values"
    __table_args__ = (
        UniqueConstraint("definition_id", "visitor_id", name="uq_visitor_attribute_values"),
        # ix_visitor_attribute_values_expires_at: the expiry job takes the oldest first.
        Index("ix_visitor_attribute_values_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    definition_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visitor_attribute_definitions.id", ondelete="CASCADE")
    )
    # ix_visitor_attribute_values_visitor_id: a visitor's values (profile, export, erasure).
    visitor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    value_sealed: Mapped[str] = mapped_column(Text)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
