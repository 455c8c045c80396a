"""Tables of data-subject requests: cases and their history, portal links, processing limits
(restriction, objection), per-workspace request settings, and the sealed mail outbox.

Nothing here holds a direct identifier in clear: the requester's address is sealed under a key
of its own (the case's, the link's, the mail's) that is destroyed once it has served; case
history names fields and counts, never old or new values (rectification, GDPR Art. 16).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id


class DsrCase(Base):
    """One request of a data subject (GDPR Art. 15-21) and where it stands."""

    __tablename__ = "dsr_cases"
    __table_args__ = (
        # ix_dsr_cases_open: a workspace's open cases by due date (the console's urgency list).
        Index("ix_dsr_cases_open", "workspace_id", "completed_at", "due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), index=True
    )
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    processing: Mapped[str | None] = mapped_column(String(32))  # objection: what it stops
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    target_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    contact_sealed: Mapped[str | None] = mapped_column(Text)  # under the case's own key
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    export_key: Mapped[str | None] = mapped_column(String(255))  # blob store key of the ZIP


class DsrCaseEvent(Base):
    """The history of a case: every change, who made it, and why."""

    __tablename__ = "dsr_case_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dsr_cases.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # operator | subject | system | cli
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))  # the status after the change
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PortalLink(Base):
    """A one-time link that proves control of an e-mail address on the privacy portal."""

    __tablename__ = "portal_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64))
    address_sealed: Mapped[str | None] = mapped_column(Text)  # under the link's own key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # ix_portal_links_expires_at: the purge of spent and expired links.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ProcessingLimit(Base):
    """A restriction (Art. 18: everything) or an objection (Art. 21: one processing) in force
    for a subject, and when it was lifted."""

    __tablename__ = "dsr_processing_limits"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # restriction | objection
    processing: Mapped[str] = mapped_column(String(32))  # "all" for a restriction
    case_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dsr_cases.id", ondelete="SET NULL")
    )
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DsrSettings(Base):
    """A workspace's own answer target, and whether the portal offers an immediate download."""

    __tablename__ = "dsr_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    target_days: Mapped[int] = mapped_column(Integer, default=7)
    instant_download: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxMail(Base):
    """A mail waiting for the ``send_mail`` job: recipient, subject and text sealed under the
    row's own key, destroyed once the mail has left."""

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
