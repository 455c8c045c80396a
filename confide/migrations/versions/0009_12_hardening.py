"""hardening: phone regions list, spent MFA challenges, relayed client ids, inbound receipts

Revision ID: 0009_12
Revises: 0009_10_audit
Create Date: 2026-11-30 11:00:00

- ``workspace_privacy_settings.phone_regions``: every region whose national phone formats are
  recognised; an existing ``phone_region`` becomes the list's only entry.
- ``spent_mfa_challenges``: a challenge completes one sign-in only.
- ``relayed_client_ids``: with transcripts off, the latest client ids per conversation, so a
  retried send is a duplicate (no text).
- ``inbound_receipts``: a provider's message id per channel endpoint (keyed hash), so a
  webhook redelivered after its conversation closed is not stored again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import confide.core.db


revision: str = "0009_12"
down_revision: str | None = "0009_10_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_regions", sa.JSON(), nullable=True))
    settings = sa.table(
        "workspace_privacy_settings",
        sa.column("workspace_id", sa.Uuid()),
        sa.column("phone_region", sa.String(2)),
        sa.column("phone_regions", sa.JSON()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(settings.c.workspace_id, settings.c.phone_region)).all()
    for workspace_id, region in rows:
        bind.execute(
            settings.update()
            .where(settings.c.workspace_id == workspace_id)
            .values(phone_regions=[region] if region else [])
        )
    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.alter_column("phone_regions", existing_type=sa.JSON(), nullable=False)

    op.create_table(
        "spent_mfa_challenges",
        sa.Column("challenge_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge_id", name=op.f("pk_spent_mfa_challenges")),
    )
    with op.batch_alter_table("spent_mfa_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spent_mfa_challenges_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "relayed_client_ids",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_relayed_client_ids_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "client_id", name=op.f("pk_relayed_client_ids")),
    )

    op.create_table(
        "inbound_receipts",
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("provider_message_key", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("received_at", confide.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_inbound_receipts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["channel_endpoints.id"],
            name=op.f("fk_inbound_receipts_endpoint_id_channel_endpoints"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "endpoint_id", "provider_message_key", name=op.f("pk_inbound_receipts")
        ),
    )
    with op.batch_alter_table("inbound_receipts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_receipts_conversation_id"), ["conversation_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("inbound_receipts")
    op.drop_table("relayed_client_ids")
    op.drop_table("spent_mfa_challenges")
    with op.batch_alter_table("workspace_privacy_settings", schema=None) as batch_op:
        batch_op.drop_column("phone_regions")
