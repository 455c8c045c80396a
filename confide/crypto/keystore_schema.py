"""The key store's tables, apart from the store's operations (``confide.crypto.keystore``).

The key store is its own database with its own schema (created with ``create_all``, no Alembic):
new tables appear in an existing store on the next start.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from confide.core.clock import utcnow
from confide.core.db import NAMING_CONVENTION, UTCDateTime


class KeyStoreBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WorkspaceKey(KeyStoreBase):
    """A workspace's key-encryption key (KEK), wrapped by the master key. Versions rotate."""

    __tablename__ = "workspace_keys"

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DataKey(KeyStoreBase):
    """A data key (DEK) for one subject or conversation, wrapped by a workspace KEK."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    kek_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchiveKey(KeyStoreBase):
    """A workspace's archive key-encryption key, wrapped by the master key under the context
    ``archive:<workspace>:<version>``; it wraps archived data keys and nothing else."""

    __tablename__ = "archive_keys"

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(32))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArchivedDataKey(KeyStoreBase):
    """A data key moved out of ``data_keys`` into the restricted archive, wrapped by the
    workspace's archive KEK ``archive_version``. Its id stays reserved: ``add_data_key``
    refuses it, so nothing new is ever stored under an archived conversation's key."""

    __tablename__ = "archived_data_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(String(36), index=True)
    archive_version: Mapped[int] = mapped_column(Integer)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DestroyedKey(KeyStoreBase):
    """Tombstone of a destroyed data key: its id can never be created again, so a late
    writer (a socket of an erased visitor, another node) cannot re-create an erased
    subject's key and store new data under the same id (GDPR Art. 17)."""

    __tablename__ = "destroyed_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    destroyed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SigningKey(KeyStoreBase):
    """An Ed25519 key pair that signs something (``owner``: e.g. ``audit:<workspace id>``).

    The private half is sealed by the keyring under a data key of the workspace (see
    ``confide.audit.checkpoints``), so KEK rotation and master-key re-wrapping cover it like
    any other data key; the public half is kept in clear to verify without unsealing.
    """

    __tablename__ = "signing_keys"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sealed_private_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingEpoch(KeyStoreBase):
    """A workspace that lost a data key (erasure, retention) since its KEK was last rotated:
    the next key epoch must give it a new KEK (``Keyring.advance_epoch``), so that no copy of
    the key store taken before the loss can be opened with the keys that exist afterwards."""

    __tablename__ = "pending_epochs"

    workspace_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErasureJournalEntry(KeyStoreBase):
    """One erasure or retention deletion, appended before the deleting unit commits: the
    subject and key ids only (no personal data), hash-chained (``hash`` = SHA-256 of the
    previous hash and this entry's canonical form). It lives in the key store, never in a
    backup of the data, so a restore can re-apply everything erased after the backup."""

    __tablename__ = "erasure_journal"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    workspace_id: Mapped[str] = mapped_column(String(36))
    subject_ids: Mapped[str] = mapped_column(Text)  # JSON list of ids
    key_ids: Mapped[str] = mapped_column(Text)  # JSON list of ids
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
