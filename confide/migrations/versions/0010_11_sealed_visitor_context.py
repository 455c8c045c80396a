"""Sealed visitor context (issue 11): ``conversations.visitor_context`` is now
``{"sealed": token}``, encrypted under the conversation's data key, and keeps the page path
without its query string or fragment.

Contexts stored before this revision are plaintext and may carry a query string with an e-mail
address (``/verify?email=...``); the migration cannot reach the keyring, so it removes them
(routing facts of past chats, not needed once routed) rather than leave them readable.

Revision ID: 0010_11
Revises: 0009_12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_11"
down_revision: str | None = "0009_12"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conversations = sa.table("conversations", sa.column("visitor_context", sa.JSON()))
    op.execute(
        conversations.update()
        .where(conversations.c.visitor_context.is_not(None))
        .values(visitor_context=None)
    )


def downgrade() -> None:
    # Sealed contexts stay sealed: an older version shows them as an opaque object.
    pass
