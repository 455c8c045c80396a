"""widget settings, retention days per channel, the visitor's context on a conversation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import confide.core.db


revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default of confide.privacy.settings at the time of this revision: 365 days per channel.
_RETENTION_DEFAULT = {channel: 365 for channel in ("web", "social", "call", "sms", "video")}


def upgrade() -> None:
    op.create_table(
        "workspace_widget_settings",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("accent_color", sa.String(length=7), nullable=False),
        sa.Column("position", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=60), nullable=False),
        sa.Column("greeting", sa.String(length=300), nullable=False),
        sa.Column("launcher_label", sa.String(length=40), nullable=False),
        sa.Column("prechat_enabled", sa.Boolean(), nullable=False),
        sa.Column("prechat_ask_name", sa.Boolean(), nullable=False),
        sa.Column("prechat_ask_email", sa.Boolean(), nullable=False),
        sa.Column("csat_enabled", sa.Boolean(), nullable=False),
        sa.Column("engagement_rules", sa.JSON(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("updated_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_workspace_widget_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_workspace_widget_settings")),
    )

    # Existing rows get the default per channel, then the column becomes NOT NULL.
    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retention_days", sa.JSON(), nullable=True))
    settings = sa.table("workspace_privacy_settings", sa.column("retention_days", sa.JSON()))
    op.execute(settings.update().values(retention_days=_RETENTION_DEFAULT))
    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.alter_column("retention_days", existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("visitor_context")

    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.drop_column("retention_days")

    op.drop_table("workspace_widget_settings")
