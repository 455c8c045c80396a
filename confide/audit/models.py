"""Tables of the audit ledger: events, the head of each chain, and signed checkpoints.

There is one chain per workspace and one for the platform (``workspace_id`` NULL: support
accounts, key rotation). ``audit_heads`` holds the last sequence number and hash of each chain;
appending locks that row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite already runs one
writer at a time), so two nodes can never both append sequence number *n* and fork the chain.

No foreign keys: the ledger must outlive what it talks about (a removed operator, an erased
visitor, even a closed workspace), and a cascading delete would be exactly the tampering the
chain exists to expose.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id

HASH_HEX_CHARS = 64


class AuditEvent(Base):
    """One act, hashed together with the hash of the act before it in the same chain."""

    __tablename__ = "audit_events"
    # uq_audit_events_workspace_seq also serves reading a chain in order (verify, the REST list).
    # It does not cover the platform chain (NULL workspace: NULLs are distinct); there, as
    # everywhere, the lock on the chain's audit_heads row is what keeps seq unique.
    __table_args__ = (
        UniqueConstraint("workspace_id", "seq", name="uq_audit_events_workspace_seq"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column()
    seq: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # operator, api_key, visitor, system...
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64))
    # Whose personal data the act concerned; "who read my data" looks it up by this index.
    subject_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # The subjects of a read that returned several people, space-separated and sorted (hashed);
    # audit_event_subjects indexes them. NULL when the act concerned one subject or none.
    subject_ids: Mapped[str | None] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(String(128))  # "conversation:<id>"
    source: Mapped[str] = mapped_column(String(128))  # keyed hash of the client IP @ node
    details_encrypted: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))


class AuditEventSubject(Base):
    """One subject of an event that named several (a list read): "who read this person's data?"
    is one lookup of ``pk_audit_event_subjects`` (subject first). Derived from the hashed
    ``subject_ids``, which stays the evidence."""

    __tablename__ = "audit_event_subjects"

    subject_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class AuditHead(Base):
    """The last event of a chain: the row appenders lock, one per chain."""

    __tablename__ = "audit_heads"

    chain_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # workspace or "platform"
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))


class AuditCheckpoint(Base):
    """A chain head signed with the workspace's Ed25519 key; export these and keep them
    elsewhere, and a rewrite of the whole chain no longer goes unnoticed."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (Index("ix_audit_checkpoints_workspace_seq", "workspace_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column()
    seq: Mapped[int] = mapped_column(BigInteger)
    head_hash: Mapped[str] = mapped_column(String(HASH_HEX_CHARS))
    signature: Mapped[str] = mapped_column(String(128))  # base64 of 64 bytes
    public_key: Mapped[str] = mapped_column(String(64))  # base64 of 32 bytes
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
