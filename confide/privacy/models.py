"""Tables of the personal-data vault.

A *subject* is a person whose data Confide holds: an operator now, visitors and contacts later.
Its direct identifiers (name, e-mail, phone, ...) are rows of ``personal_fields``, apart from all
operational tables, and only ``confide.privacy.vault`` reads or writes them. That one module is
where encryption, access policy and the audit trail attach, so no other code can forget them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
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
