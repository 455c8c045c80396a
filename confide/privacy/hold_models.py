"""The legal-hold table (GDPR Art. 17(3)(e)): what must not be destroyed, why and for whom.

A hold names one conversation, one data subject (a visitor: all their conversations) or a
filter (channel, group, creation dates). ``conversations.held`` is kept in step for the holds
that exist when a conversation is held or a hold lifted; erasure and retention also match the
active holds themselves inside their own transaction (``confide.privacy.holds``), so a
conversation created after a filter hold was placed is covered too.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id


class LegalHoldRecord(Base):
    __tablename__ = "legal_holds"
    __table_args__ = (
        # ix_legal_holds_active: the active holds of a workspace, checked by every erasure.
        Index("ix_legal_holds_active", "workspace_id", "lifted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))  # conversation | subject | filter
    # A hold keeps these rows from being erased, so no cascade from them can reach it.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    # {"channel": ..., "group_id": ..., "created_from": ISO date, "created_to": ISO date}
    filter: Mapped[dict[str, str] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    lift_reason: Mapped[str | None] = mapped_column(Text)
