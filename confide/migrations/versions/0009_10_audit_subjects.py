"""audit: events that name several subjects (list reads)

Revision ID: 0009_10_audit
Revises: 0008
Create Date: 2026-11-30 11:20:00

A read that returns several people (a list of conversations, of operators) now names every one
of them: ``audit_events.subject_ids`` (covered by the event's hash) and the index table
``audit_event_subjects`` behind "who read this person's data?". Existing events keep
``subject_ids`` NULL, which their hash never covered, so every chain still verifies.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_10_audit"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("subject_ids", sa.Text(), nullable=True))
    op.create_table(
        "audit_event_subjects",
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "event_id", name="pk_audit_event_subjects"),
    )


def downgrade() -> None:
    op.drop_table("audit_event_subjects")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("subject_ids")
