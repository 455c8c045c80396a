"""attachments (sealed blobs), workspace attachment limits, purpose-bound visitor attributes

Revision ID: 0011_20
Revises: 0010_11
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from confide.core.db import UTCDateTime

revision: str = "0011_20"
down_revision: str | None = "0010_11"
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
    op.create_table(
        "workspace_attachment_settings",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_bytes", sa.Integer(), nullable=False),
        sa.Column("allowed_types", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        _fk("workspace_attachment_settings", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_workspace_attachment_settings")),
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("uploader_kind", sa.String(length=16), nullable=False),
        sa.Column("uploader_operator_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_type", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("name_sealed", sa.Text(), nullable=False),
        sa.Column("blob_key", sa.String(length=300), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        _fk("attachments", "workspace_id", "workspaces", "CASCADE"),
        _fk("attachments", "conversation_id", "conversations", "CASCADE"),
        _fk("attachments", "message_id", "messages", "SET NULL"),
        _fk("attachments", "uploader_operator_id", "operators", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_conversation_id", "attachments", ["conversation_id"])
    op.create_index("ix_attachments_message_id", "attachments", ["message_id"])
    op.create_table(
        "visitor_attribute_definitions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        _fk("visitor_attribute_definitions", "workspace_id", "workspaces", "CASCADE"),
        _fk("visitor_attribute_definitions", "created_by", "operators", "SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_attribute_definitions")),
        sa.UniqueConstraint(
            "workspace_id", "name", name=op.f("uq_visitor_attribute_definitions_name")
        ),
    )
    op.create_table(
        "visitor_attribute_values",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("definition_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_id", sa.Uuid(), nullable=False),
        sa.Column("value_sealed", sa.Text(), nullable=False),
        sa.Column("set_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        _fk(
            "visitor_attribute_values",
            "definition_id",
            "visitor_attribute_definitions",
            "CASCADE",
        ),
        _fk("visitor_attribute_values", "visitor_id", "visitors", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_attribute_values")),
        sa.UniqueConstraint(
            "definition_id", "visitor_id", name=op.f("uq_visitor_attribute_values")
        ),
    )
    op.create_index(
        "ix_visitor_attribute_values_expires_at", "visitor_attribute_values", ["expires_at"]
    )
    op.create_index(
        "ix_visitor_attribute_values_visitor_id", "visitor_attribute_values", ["visitor_id"]
    )


def downgrade() -> None:
    op.drop_table("visitor_attribute_values")
    op.drop_table("visitor_attribute_definitions")
    op.drop_table("attachments")
    op.drop_table("workspace_attachment_settings")
