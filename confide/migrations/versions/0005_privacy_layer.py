"""privacy layer: redaction notes, privacy settings, connection logs, the consent ledger

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:38:24.605976
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import confide.core.db


revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workspace_privacy_settings",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("redact_cards", sa.Boolean(), nullable=False),
        sa.Column("redact_ibans", sa.Boolean(), nullable=False),
        sa.Column("redact_phones", sa.Boolean(), nullable=False),
        sa.Column("redact_emails", sa.Boolean(), nullable=False),
        sa.Column("phone_region", sa.String(length=2), nullable=True),
        sa.Column("redaction_patterns", sa.JSON(), nullable=False),
        sa.Column("ip_handling", sa.String(length=16), nullable=False),
        sa.Column("store_transcripts", sa.Boolean(), nullable=False),
        sa.Column("connection_log_retention_days", sa.Integer(), nullable=False),
        sa.Column("consent_required", sa.Boolean(), nullable=False),
        sa.Column("updated_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_privacy_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_workspace_privacy_settings")),
    )
    op.create_table(
        "connection_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.Uuid(), nullable=True),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ip", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("created_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_connection_logs_operator_id_operators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_connection_logs_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_connection_logs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connection_logs")),
    )
    with op.batch_alter_table("connection_logs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_connection_logs_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_index(
            "ix_connection_logs_purge", ["workspace_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_connection_logs_visitor_id"), ["visitor_id"], unique=False
        )

    op.create_table(
        "consent_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", confide.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["operators.id"],
            name=op.f("fk_consent_requests_created_by_operators"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_consent_requests_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_requests")),
        sa.UniqueConstraint(
            "workspace_id", "purpose", "version", name="uq_consent_requests_workspace_version"
        ),
    )
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_consent_records_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["consent_requests.id"],
            name=op.f("fk_consent_records_request_id_consent_requests"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_consent_records_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_consent_records_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_records_current", ["visitor_id", "purpose", "decided_at"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redactions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("redactions")

    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_records_current")

    op.drop_table("consent_records")
    op.drop_table("consent_requests")
    with op.batch_alter_table("connection_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connection_logs_visitor_id"))
        batch_op.drop_index("ix_connection_logs_purge")
        batch_op.drop_index(batch_op.f("ix_connection_logs_operator_id"))

    op.drop_table("connection_logs")
    op.drop_table("workspace_privacy_settings")
