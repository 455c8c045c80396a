"""audit: the hash-chained audit ledger (audit_events, audit_heads, audit_checkpoints)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 03:46:38.171326
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import confide.core.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("resource", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("details_encrypted", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("workspace_id", "seq", name="uq_audit_events_workspace_seq"),
    )
    op.create_index(
        op.f("ix_audit_events_subject_id"), "audit_events", ["subject_id"], unique=False
    )
    op.create_table(
        "audit_heads",
        sa.Column("chain_id", sa.String(length=36), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index(
        "ix_audit_checkpoints_workspace_seq",
        "audit_checkpoints",
        ["workspace_id", "seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_audit_checkpoints_workspace_seq", table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_heads")
    op.drop_index(op.f("ix_audit_events_subject_id"), table_name="audit_events")
    op.drop_table("audit_events")
