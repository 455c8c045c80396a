"""Retention (issue 13): archive period and the simple "delete after N months" setting,
anonymised conversation statistics, retention runs with their counts, and overdue alerts.

Revision ID: 0011_13
Revises: 0011_13c
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confide.core.db import UTCDateTime

revision: str = "0011_13"
down_revision: str | None = "0011_13c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.add_column("workspace_privacy_settings", sa.Column("archive_days", sa.JSON(), nullable=True))
    op.add_column(
        "workspace_privacy_settings",
        sa.Column("delete_after_months", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_table(
        "conversation_statistics",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("visitor_messages", sa.Integer(), nullable=False),
        sa.Column("operator_messages", sa.Integer(), nullable=False),
        sa.Column("bot_messages", sa.Integer(), nullable=False),
        sa.Column("system_messages", sa.Integer(), nullable=False),
        sa.Column("first_response_seconds", sa.Integer(), nullable=True),
        sa.Column("handling_seconds", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("csat_score", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        _fk("conversation_statistics", "workspace_id", "workspaces", "CASCADE"),
        _fk("conversation_statistics", "conversation_id", "conversations", "SET NULL"),
        _fk("conversation_statistics", "group_id", "groups", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_statistics")),
        sa.UniqueConstraint(
            "conversation_id", name=op.f("uq_conversation_statistics_conversation_id")
        ),
    )
    op.create_index(
        "ix_conversation_statistics_report", "conversation_statistics", ["workspace_id", "day"]
    )
    op.create_index(
        "ix_conversation_statistics_k",
        "conversation_statistics",
        ["workspace_id", "group_id", "day"],
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("as_of", UTCDateTime(timezone=True), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.JSON(), nullable=True),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    op.create_index("ix_retention_runs_finished", "retention_runs", ["status", "finished_at"])
    op.create_table(
        "retention_run_counts",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("statistics", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Integer(), nullable=False),
        sa.Column("destroyed", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("visitors_erased", sa.Integer(), nullable=False),
        _fk("retention_run_counts", "run_id", "retention_runs", "CASCADE"),
        _fk("retention_run_counts", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint(
            "run_id", "workspace_id", "channel", name=op.f("pk_retention_run_counts")
        ),
    )
    op.create_table(
        "retention_alerts",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("overdue_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_mailed_at", UTCDateTime(timezone=True), nullable=True),
        _fk("retention_alerts", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_retention_alerts")),
    )


def downgrade() -> None:
    op.drop_table("retention_alerts")
    op.drop_table("retention_run_counts")
    op.drop_index("ix_retention_runs_finished", table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_index("ix_conversation_statistics_k", table_name="conversation_statistics")
    op.drop_index("ix_conversation_statistics_report", table_name="conversation_statistics")
    op.drop_table("conversation_statistics")
    with op.batch_alter_table("workspace_privacy_settings") as batch:
        batch.drop_column("delete_after_months")
        batch.drop_column("archive_days")
