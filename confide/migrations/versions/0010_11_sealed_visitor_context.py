"""Sealed visitor context and an index for erasure (issue 11): ``conversations.visitor_context`` is now
``{"sealed": token}``, encrypted under the conversation's data key, and keeps the page path
without its query string or fragment.

Contexts stored before this revision are plaintext and may carry a query string with an e-mail
address (``/verify?email=...``); the migration cannot reach the keyring, so it removes them
(routing facts of past chats, not needed once routed) rather than leave them readable.

Revision ID: 0010_11
Revises: 0009_17
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_11"
down_revision: str | None = "0009_17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Erasure deletes conversations; the ledger's SET NULL reference needs an index.
    op.create_index("ix_consent_records_conversation_id", "consent_records", ["conversation_id"])
    conversations = sa.table("conversations", sa.column("visitor_context", sa.JSON()))
    op.execute(
        conversations.update()
        .where(conversations.c.visitor_context.is_not(None))
        .values(visitor_context=None)
    )


def downgrade() -> None:
    # Sealed contexts stay sealed: an older version shows them as an opaque object.
    op.drop_index("ix_consent_records_conversation_id", table_name="consent_records")
