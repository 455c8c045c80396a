"""Tables of the time-boxed grants (``confide.access.grants``) and of operator permissions.

A grant row is the stored form of a :class:`confide.access.grants.Grant`: support access given
by a workspace's admin, or an archive custodian's opening of one archived conversation. Rows
are never deleted when they end (expired or revoked): they are the list the workspace's admins
read, next to the audit ledger's records of every read made under them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id

# The one operator permission so far: may open archived conversations (with a reason).
ARCHIVE_CUSTODIAN = "archive_custodian"


class AccessGrant(Base):
    __tablename__ = "access_grants"
    __table_args__ = (
        # ix_access_grants_grantee: the live grants of the operator behind every request.
        Index("ix_access_grants_grantee", "grantee_id", "expires_at"),
        # ix_access_grants_workspace: the admins' list, newest first.
        Index("ix_access_grants_workspace", "workspace_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))  # GrantKind: support | archive_custodian
    grantee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("operators.id", ondelete="CASCADE"))
    scope: Mapped[str | None] = mapped_column(String(24))  # SupportScope (support only)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # Support: the admin's reason. Custodian: incident-restore | legal-requisition.
    reason: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))  # a legal requisition's number
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    # When the expiry was recorded in the audit ledger (and mailed): once per grant.
    expiry_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OperatorPermission(Base):
    """A permission an admin gave one operator beyond their role (``ARCHIVE_CUSTODIAN``)."""

    __tablename__ = "operator_permissions"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    permission: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
