"""Tables of retention: the anonymised statistics kept after end of life, and the runs.

Why here: the retention job writes all of them, and none of them names a person.
``conversation_statistics`` keeps, per conversation, only figures (counts, seconds, a score)
and coarse keys (day or week, channel, group); while its conversation lives the row points at
it (``conversation_id``) so it is written once, and the foreign key's ``SET NULL`` cuts that
link when the conversation is destroyed or erased. ``retention_runs`` and
``retention_run_counts`` are the stored report of each run: counted in the same transaction as
the work, so a run killed and resumed never counts a conversation twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id

K_ANONYMITY = 5  # fewer conversations than this in a group's day: the row is kept per week


class ConversationStatistics(Base):
    """One conversation's figures, kept after its transcript and visitor are destroyed."""

    __tablename__ = "conversation_statistics"
    __table_args__ = (
        # ix_conversation_statistics_report: reports read a workspace's rows by day.
        Index("ix_conversation_statistics_report", "workspace_id", "day"),
        # ix_conversation_statistics_k: the k=5 count of a group's day.
        Index("ix_conversation_statistics_k", "workspace_id", "group_id", "day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    # The live conversation, so the row is written once; NULL once it is destroyed.
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), unique=True
    )
    day: Mapped[date] = mapped_column(Date)  # the UTC day it started, or the Monday of its week
    period: Mapped[str] = mapped_column(String(4))  # "day" or "week" (k-anonymity coarsening)
    channel: Mapped[str] = mapped_column(String(16))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    visitor_messages: Mapped[int] = mapped_column(Integer, default=0)
    operator_messages: Mapped[int] = mapped_column(Integer, default=0)
    bot_messages: Mapped[int] = mapped_column(Integer, default=0)
    system_messages: Mapped[int] = mapped_column(Integer, default=0)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    handling_seconds: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))  # answered | unanswered


class RetentionRun(Base):
    """One run of the retention job (or of ``confide retention run``): its simulated or real
    date, where it is (``cursor``: lane and last conversation id) and, once finished, its
    report per workspace and channel."""

    __tablename__ = "retention_runs"
    __table_args__ = (Index("ix_retention_runs_finished", "status", "finished_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | finished
    cursor: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    batches: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RetentionRunCount(Base):
    """What one run did in one workspace and channel, incremented in each batch's transaction."""

    __tablename__ = "retention_run_counts"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("retention_runs.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    statistics: Mapped[int] = mapped_column(Integer, default=0)
    archived: Mapped[int] = mapped_column(Integer, default=0)
    destroyed: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)  # skipped: under legal hold
    visitors_erased: Mapped[int] = mapped_column(Integer, default=0)


class RetentionAlert(Base):
    """When admins of a workspace were last mailed about overdue retention (at most daily)."""

    __tablename__ = "retention_alerts"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    overdue_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
