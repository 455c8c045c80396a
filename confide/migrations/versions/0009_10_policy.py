"""conversation data states for the policy: lifecycle, restricted, held

Revision ID: 0009_10
Revises: 0009_12
Create Date: 2026-11-30 11:00:00

Every existing conversation is active, unrestricted and not held (the server defaults), which
is what the policy assumed before these columns existed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0009_10"
down_revision: str | None = "0009_12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column(
                "lifecycle",
                sa.Enum("active", "archived", name="conversation_lifecycle", native_enum=False),
                nullable=False,
                server_default="active",
            )
        )
        batch.add_column(
            sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("held")
        batch.drop_column("restricted")
        batch.drop_column("lifecycle")
