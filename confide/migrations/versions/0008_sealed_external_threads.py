"""external threads: a keyed hash and a sealed copy instead of the plaintext thread id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 06:50:00

The provider's thread id can be a visitor's phone number (SMS), so it no longer rests in
clear. A migration cannot reach the instance secret or the key store, so existing plaintext
ids are dropped rather than converted: a later message on such a thread starts a new
conversation, and replies to a conversation that lost its thread fail with ``no_thread``
(visible in the channel deliveries list).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_thread", type_="unique")
        batch.drop_column("external_thread")
        batch.add_column(sa.Column("external_thread_index", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("external_thread_sealed", sa.Text(), nullable=True))
        batch.create_unique_constraint(
            "uq_conversations_thread", ["workspace_id", "channel", "external_thread_index"]
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("uq_conversations_thread", type_="unique")
        batch.drop_column("external_thread_sealed")
        batch.drop_column("external_thread_index")
        batch.add_column(sa.Column("external_thread", sa.String(length=200), nullable=True))
        batch.create_unique_constraint(
            "uq_conversations_thread", ["workspace_id", "channel", "external_thread"]
        )
