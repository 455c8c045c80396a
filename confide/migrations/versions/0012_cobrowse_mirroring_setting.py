"""Page mirroring and co-browsing (issue 21): the workspace setting that turns both off.

Revision ID: 0012_cobrowse
Revises: 0011_13
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_cobrowse"
down_revision: str | None = "0011_13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "workspace_privacy_settings",
        sa.Column("mirroring_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("workspace_privacy_settings") as batch:
        batch.drop_column("mirroring_enabled")
