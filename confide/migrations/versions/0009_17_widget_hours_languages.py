"""widget: theme and per-language strings; opening hours per group; consent text languages

Revision ID: 0009_17
Revises: 0009_16
Create Date: 2026-11-30 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import confide.core.db

revision: str = "0009_17"
down_revision: str | None = "0009_16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    with op.batch_alter_table("workspace_widget_settings") as batch:
        batch.add_column(
            sa.Column("theme", sa.String(length=8), nullable=False, server_default="auto")
        )
        batch.add_column(sa.Column("strings", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "group_hours",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("expected_reply_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id"),
    )


def downgrade() -> None:
    op.drop_table("group_hours")
    with op.batch_alter_table("workspace_widget_settings") as batch:
        batch.drop_column("strings")
        batch.drop_column("theme")
    with op.batch_alter_table("consent_requests") as batch:
        batch.drop_column("language")
