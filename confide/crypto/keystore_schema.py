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
