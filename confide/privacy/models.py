"""Tables of the personal-data vault.

A *subject* is a person whose data Confide holds: an operator now, visitors and contacts later.
Its direct identifiers (name, e-mail, phone, ...) are rows of ``personal_fields``, apart from all
operational tables, and only ``confide.privacy.vault`` reads or writes them. That one module is
where encryption, access policy and the audit trail attach, so no other code can forget them.

Also here: each workspace's privacy settings, the connection logs they bound, and the consent
ledger (requests with their exact texts, and the append-only decisions of visitors).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import Base, UTCDateTime, new_id


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "operator", later "visitor"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PersonalField(Base):
    __tablename__ = "personal_fields"
    __table_args__ = (
        # ix_personal_fields_lookup: find a subject by e-mail/phone through its blind index.
        Index("ix_personal_fields_lookup", "name", "blind_index"),
    )

    subject_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    blind_index: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageText(Base):
    """The words of a message (and of a survey comment): personal data, kept in the vault.

    Keyed by message and carrying its conversation, so that a conversation's texts can be
    deleted (or, with the keyring, shredded under a per-conversation key) in one statement.
    """

    __tablename__ = "message_texts"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    # ix_message_texts_conversation_id: erase or export one conversation's texts.
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- privacy settings, connection logs and the consent ledger --------------------------------


class WorkspacePrivacySettings(Base):
    """A workspace's privacy policy: redaction, minimisation and consent, in one place.

    A workspace without a row has the defaults below (``confide.privacy.settings``); the row is
    written the first time an admin changes one of them."""

    __tablename__ = "workspace_privacy_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    redact_cards: Mapped[bool] = mapped_column(Boolean, default=True)
    redact_ibans: Mapped[bool] = mapped_column(Boolean, default=True)
    redact_phones: Mapped[bool] = mapped_column(Boolean, default=False)
    redact_emails: Mapped[bool] = mapped_column(Boolean, default=False)
    # ISO 3166 region for numbers written without a country code; None: only +<country> ones.
    phone_region: Mapped[str | None] = mapped_column(String(2))
    # Every region whose national formats are recognised (phone_region is the first of them).
    phone_regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    redaction_patterns: Mapped[list[str]] = mapped_column(JSON, default=list)
    ip_handling: Mapped[str] = mapped_column(String(16), default="truncated")
    store_transcripts: Mapped[bool] = mapped_column(Boolean, default=True)
    connection_log_retention_days: Mapped[int] = mapped_column(Integer, default=365)
    consent_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # Retention per channel ({"web": 1095, ...}): days active, then days in the restricted
    # archive (0: none); or, when delete_after_months is 1-36, that many months and no archive.
    # Interpreted by confide.privacy.retention.policy, acted on by the retention job.
    retention_days: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    archive_days: Mapped[dict[str, int] | None] = mapped_column(JSON, default=dict)
    delete_after_months: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Off: the widget never offers page mirroring or co-browsing, and the relay refuses both.
    mirroring_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectionLog(Base):
    """One connection (a visitor created, a widget or console socket opened), kept for
    ``connection_log_retention_days`` and then purged. The address, when kept at all, is
    encrypted under the person's data key."""

    __tablename__ = "connection_logs"
    __table_args__ = (
        # ix_connection_logs_purge: a workspace's logs older than its retention, oldest first.
        Index("ix_connection_logs_purge", "workspace_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visitor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), index=True
    )
    operator_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))  # widget_socket, console_socket, visitor_created
    ip: Mapped[str | None] = mapped_column(Text)  # sealed (ck1:...) or None
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentRequest(Base):
    """One version of what a workspace asks consent for. Versions are never edited or deleted:
    a consent record points at the exact text the visitor was shown."""

    __tablename__ = "consent_requests"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "purpose", "version", name="uq_consent_requests_workspace_version"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the UTF-8 text, hex
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operators.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when a newer version of the purpose is published; the active one has None.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The language of the text ("de"); None: shown in every language without a text of its own.
    # Each language has its own active version (versions stay unique per purpose).
    language: Mapped[str | None] = mapped_column(String(35))


class ConsentRecord(Base):
    """The consent ledger: one row per decision, appended, never updated."""

    __tablename__ = "consent_records"
    __table_args__ = (
        # ix_consent_records_current: a visitor's latest decision per purpose.
        Index("ix_consent_records_current", "visitor_id", "purpose", "decided_at"),
        # ix_consent_records_conversation_id: deleting a conversation (erasure, retention)
        # nulls its references without a scan of the ledger.
        Index("ix_consent_records_conversation_id", "conversation_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    visitor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consent_requests.id", ondelete="RESTRICT")
    )
    purpose: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    text_hash: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # granted, refused, withdrawn
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
