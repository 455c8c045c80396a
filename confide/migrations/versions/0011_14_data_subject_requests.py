"""data-subject requests (issue 14): cases and their history, portal links, processing
limits (restriction, objection), request settings, and the sealed mail outbox

Revision ID: 0011_14
Revises: 0011_20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confide.core.db import UTCDateTime

revision: str = "0011_14"
down_revision: str | None = "0011_20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dsr_cases",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Uuid(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "subject_id",
            sa.Uuid(),
            sa.ForeignKey("subjects.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "visitor_id",
            sa.Uuid(),
            sa.ForeignKey("visitors.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("processing", sa.String(32), nullable=True),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("target_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column(
            "assignee_id",
            sa.Uuid(),
            sa.ForeignKey("operators.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("contact_sealed", sa.Text(), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("export_key", sa.String(255), nullable=True),
    )
    op.create_index("ix_dsr_cases_open", "dsr_cases", ["workspace_id", "completed_at", "due_at"])
    op.create_index("ix_dsr_cases_subject_id", "dsr_cases", ["subject_id"])
    op.create_index("ix_dsr_cases_visitor_id", "dsr_cases", ["visitor_id"])
    op.create_index("ix_dsr_cases_assignee_id", "dsr_cases", ["assignee_id"])
    op.create_table(
        "dsr_case_events",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "case_id", sa.Uuid(), sa.ForeignKey("dsr_cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column(
            "actor_id", sa.Uuid(), sa.ForeignKey("operators.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_dsr_case_events_case_id", "dsr_case_events", ["case_id"])
    op.create_index("ix_dsr_case_events_actor_id", "dsr_case_events", ["actor_id"])
    op.create_table(
        "portal_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Uuid(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("address_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("verified_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_portal_links_workspace_id", "portal_links", ["workspace_id"])
    op.create_index("ix_portal_links_expires_at", "portal_links", ["expires_at"])
    op.create_table(
        "dsr_processing_limits",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Uuid(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "subject_id",
            sa.Uuid(),
            sa.ForeignKey("subjects.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("processing", sa.String(32), nullable=False),
        sa.Column(
            "case_id", sa.Uuid(), sa.ForeignKey("dsr_cases.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_dsr_processing_limits_workspace_id", "dsr_processing_limits", ["workspace_id"]
    )
    op.create_index("ix_dsr_processing_limits_subject_id", "dsr_processing_limits", ["subject_id"])
    op.create_table(
        "dsr_settings",
        sa.Column(
            "workspace_id",
            sa.Uuid(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("instant_download", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "workspace_id",
            sa.Uuid(),
            sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_mail_outbox_workspace_id", "mail_outbox", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("mail_outbox")
    op.drop_table("dsr_settings")
    op.drop_table("dsr_processing_limits")
    op.drop_table("portal_links")
    op.drop_table("dsr_case_events")
    op.drop_table("dsr_cases")
