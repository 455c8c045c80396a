"""The personal-data vault: the only code that reads or writes direct identifiers.

Why one module: a privacy guarantee that every caller must remember is a guarantee that fails.
Callers hand the vault a subject id and field names; the vault decides how values are stored
(AES-256-GCM under the subject's data key, bound to the row and field through the associated
data), how people are found again (a keyed blind index, never a scan or a plaintext ``WHERE``),
and what erasure means (rows deleted and keys destroyed, which also makes every backup copy
unreadable). Message texts are encrypted under their conversation's data key, and so are the
values ``confide.privacy.conversation_seals`` seals for other tables (thread ids, notes, visitor
context; ``Vault`` mixes those methods in).
``tests/privacy/test_vault_boundary.py`` fails if another module touches the vault's tables.

Field names are declared below per subject kind; an undeclared field is a programming error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import Insert, Table, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from confide.core import hot_statements
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Gone, KeyUnavailable, ValidationFailed
from confide.core.hot_statements import HotStatement
from confide.core.secrets import InstanceSecret
from confide.crypto.keyring import Keyring
from confide.privacy.conversation_seals import ConversationSeals
from confide.privacy.models import MessageText, PersonalField, Subject

_MESSAGE_TEXTS: Table = MessageText.__table__  # type: ignore[assignment]
INSERT_TEXT = HotStatement(insert(_MESSAGE_TEXTS))


def insert_text_from(conversation_id: Any) -> Insert:
    """:data:`INSERT_TEXT` as a part of a larger statement (the message path's one statement
    on PostgreSQL, ``confide.chat.batched_send``): the values of :meth:`Vault.sealed_text_row`
    as the parameters ``message_id``, ``text_body`` and ``text_created_at`` (names no column of
    the enclosing statement's UPDATE has), the conversation as a SQL value of that statement."""
    c = _MESSAGE_TEXTS.c
    return insert(_MESSAGE_TEXTS).from_select(
        ["message_id", "conversation_id", "body", "created_at"],
        select(
            bindparam("message_id", type_=c.message_id.type),
            conversation_id,
            bindparam("text_body", type_=c.body.type),
            bindparam("text_created_at", type_=c.created_at.type),
        ),
    )


OPERATOR_FIELDS = frozenset({"name", "alias", "email", "job_title", "avatar_url"})
# Visitors: what identify may attach; custom attributes are one JSON-encoded field.
VISITOR_FIELDS = frozenset({"name", "email", "phone", "attributes"})
FIELDS_BY_KIND: dict[str, frozenset[str]] = {
    "operator": OPERATOR_FIELDS,
    "visitor": VISITOR_FIELDS,
}
# Fields a person can be found by; only their keyed hash is searchable.
LOOKUP_FIELDS = frozenset({"email", "phone"})
# The vault's sealed columns that a subject export reads row by row (the export finds the rows
# through the subject data map; only the vault knows how to open them: ``open_row``).
SEALED_COLUMNS = frozenset(
    {(PersonalField.__tablename__, "value"), (MessageText.__tablename__, "body")}
)
TEXTS_TABLE = MessageText.__tablename__
FIELDS_TABLE = PersonalField.__tablename__


def check_lookup(field: str, value: str) -> None:
    """Refuse (422, naming ``field``) what cannot be an e-mail address or a phone number before
    the blind index is asked: a malformed value is the caller's mistake, not "nobody found"."""
    if field not in ("email", "phone") or not value.strip():
        raise ValidationFailed("Give an e-mail address or a phone number.", field=field)
    if field == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+", value.strip()):
        raise ValidationFailed("This is not an e-mail address.", field=field)
    if field == "phone" and sum(ch.isdigit() for ch in value) < 5:
        raise ValidationFailed("This is not a phone number.", field=field)


def normalise_for_lookup(field: str, value: str) -> str:
    value = value.strip()
    if field == "email":
        return value.casefold()
    if field == "phone":
        return "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return value


def _field_aad(subject_id: uuid.UUID, field: str) -> str:
    return f"personal_fields:{subject_id}:{field}"


def _text_aad(message_id: uuid.UUID) -> str:
    return f"message_texts:{message_id}"


def attribute_value_aad(value_id: uuid.UUID) -> str:
    """What binds a sealed visitor attribute value (under the subject's key) to its row."""
    return f"attribute:{value_id}"


def attachment_name_aad(attachment_id: uuid.UUID) -> str:
    """What binds a sealed attachment file name (under the conversation's key) to its row."""
    return f"attachment:{attachment_id}:name"


class Vault(ConversationSeals):
    def __init__(self, secret: InstanceSecret, keyring: Keyring) -> None:
        self._secret = secret
        self._keyring = keyring

    def _blind_index(self, workspace_id: uuid.UUID | None, field: str, value: str) -> str:
        scope = str(workspace_id) if workspace_id else "platform"
        return self._secret.keyed_hash(
            f"blind-index:{scope}:{field}", normalise_for_lookup(field, value)
        )

    async def create_subject(
        self, session: AsyncSession, *, workspace_id: uuid.UUID | None, kind: str
    ) -> uuid.UUID:
        if kind not in FIELDS_BY_KIND:
            raise ValueError(f"Unknown subject kind {kind!r}.")
        subject = Subject(workspace_id=workspace_id, kind=kind)
        session.add(subject)
        await session.flush()
        return subject.id

    async def write_fields(
        self, session: AsyncSession, subject_id: uuid.UUID, values: Mapping[str, str | None]
    ) -> None:
        """Set (or with ``None`` remove) fields of one subject, inside the caller's transaction."""
        subject = await session.get(Subject, subject_id)
        if subject is None or subject.erased_at is not None:
            raise Gone("The subject does not exist or has been erased.")
        allowed = FIELDS_BY_KIND[subject.kind]
        unknown = set(values) - allowed
        if unknown:
            raise ValidationFailed(
                "This field cannot be stored for this kind of person.", field=sorted(unknown)[0]
            )
        now = utcnow()
        for field, value in values.items():
            existing = await session.get(PersonalField, (subject_id, field))
            if value is None:
                if existing is not None:
                    await session.delete(existing)
                continue
            index = (
                self._blind_index(subject.workspace_id, field, value)
                if field in LOOKUP_FIELDS
                else None
            )
            sealed = await self._keyring.encrypt(
                subject.workspace_id, subject_id, value, _field_aad(subject_id, field)
            )
            if existing is None:
                session.add(
                    PersonalField(
                        subject_id=subject_id,
                        name=field,
                        value=sealed,
                        blind_index=index,
                        updated_at=now,
                    )
                )
            else:
                existing.value = sealed
                existing.blind_index = index
                existing.updated_at = now
        await session.flush()

    async def read_fields(
        self,
        session: AsyncSession,
        subject_ids: Iterable[uuid.UUID],
        fields: Iterable[str] | None = None,
    ) -> dict[uuid.UUID, dict[str, str]]:
        """Fields of many subjects in one query; subjects without data (or whose key was
        destroyed) map to ``{}``."""
        ids = list(dict.fromkeys(subject_ids))
        result: dict[uuid.UUID, dict[str, str]] = {sid: {} for sid in ids}
        if not ids:
            return result
        query = (
            select(PersonalField, Subject.workspace_id)
            .join(Subject, Subject.id == PersonalField.subject_id)
            .where(PersonalField.subject_id.in_(ids))
        )
        if fields is not None:
            query = query.where(PersonalField.name.in_(list(fields)))
        for row, workspace_id in (await session.execute(query)).all():
            try:
                result[row.subject_id][row.name] = await self._keyring.decrypt(
                    workspace_id, row.subject_id, row.value, _field_aad(row.subject_id, row.name)
                )
            except KeyUnavailable:
                continue
        return result

    async def open_row(
        self, workspace_id: uuid.UUID, table: str, row: Mapping[str, Any]
    ) -> str | None:
        """The plaintext of the sealed column (``SEALED_COLUMNS``) of a vault ``row`` that an
        export read: a personal field, or a message text. ``None`` once its key is gone."""
        if table == PersonalField.__tablename__:
            return await self.open_field(workspace_id, row["subject_id"], row["name"], row["value"])
        if table == MessageText.__tablename__:
            return await self.open_message_text(
                row["conversation_id"], row["message_id"], row["body"]
            )
        raise KeyError(table)

    async def open_field(
        self, workspace_id: uuid.UUID, subject_id: uuid.UUID, field: str, sealed: str
    ) -> str | None:
        """One stored field value already read (an export's row), or ``None`` once the
        subject's key was destroyed."""
        try:
            return await self._keyring.decrypt(
                workspace_id, subject_id, sealed, _field_aad(subject_id, field)
            )
        except KeyUnavailable:
            return None

    async def find_subjects(
        self,
        session: AsyncSession,
        *,
        workspace_id: uuid.UUID | None,
        field: str,
        value: str,
    ) -> list[uuid.UUID]:
        """Subjects of a workspace whose ``field`` equals ``value`` (after normalisation)."""
        if field not in LOOKUP_FIELDS:
            raise ValueError(f"{field!r} is not a lookup field.")
        index = self._blind_index(workspace_id, field, value)
        query = (
            select(PersonalField.subject_id)
            .join(Subject, Subject.id == PersonalField.subject_id)
            .where(PersonalField.name == field, PersonalField.blind_index == index)
        )
        if workspace_id is None:
            query = query.where(Subject.workspace_id.is_(None))
        else:
            query = query.where(Subject.workspace_id == workspace_id)
        return list((await session.scalars(query)).all())

    async def erase_subject(
        self,
        tx: UnitOfWork,
        subject_id: uuid.UUID,
        conversation_ids: Iterable[uuid.UUID] = (),
    ) -> None:
        """Delete a person's fields and mark the subject erased inside ``tx``; their data key
        and their conversations' keys are destroyed (and tombstoned) in one batch once ``tx``
        has committed, so a rolled-back erasure destroys nothing. The subject row stays as a
        stub so references resolve to something that says "erased". The whole erasure, with
        every other table, is ``confide.privacy.erasure.do_erase_subject``."""
        await tx.execute(delete(PersonalField).where(PersonalField.subject_id == subject_id))
        await tx.execute(update(Subject).where(Subject.id == subject_id).values(erased_at=utcnow()))
        await tx.flush()
        key_ids = [str(subject_id), *(str(c) for c in conversation_ids)]
        tx.on_commit(self._keyring.destroy_many, key_ids)

    # -- message texts ------------------------------------------------------------------

    async def write_message_text(
        self,
        session: AsyncSession | AsyncConnection,
        *,
        workspace_id: uuid.UUID,
        message_id: uuid.UUID,
        conversation_id: uuid.UUID,
        body: str,
    ) -> None:
        """Seal ``body`` under the conversation's key and insert it (one Core statement, which
        also carries the writes waiting to ride along on SQLite, ``core/sqlite_driver.py``)."""
        sealed = await self._keyring.encrypt(
            workspace_id, conversation_id, body, _text_aad(message_id)
        )
        await hot_statements.execute(
            session,
            INSERT_TEXT,
            {
                "message_id": message_id,
                "conversation_id": conversation_id,
                "body": sealed,
                "created_at": utcnow(),
            },
        )

    def sealed_text_row(
        self, *, message_id: uuid.UUID, conversation_id: uuid.UUID, body: str
    ) -> dict[str, Any] | None:
        """The :data:`INSERT_TEXT` row of ``body`` sealed under the conversation's key, when
        this process holds that key already; None otherwise (no I/O: use
        :meth:`write_message_text`)."""
        sealed = self._keyring.encrypt_cached(conversation_id, body, _text_aad(message_id))
        if sealed is None:
            return None
        return {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "body": sealed,
            "created_at": utcnow(),
        }

    async def open_message_text(
        self, conversation_id: uuid.UUID, message_id: uuid.UUID, sealed: str
    ) -> str | None:
        """One stored message text already read (an export's row), or ``None`` once the
        conversation's key was destroyed."""
        try:
            return await self._keyring.decrypt(
                None, conversation_id, sealed, _text_aad(message_id), any_workspace=True
            )
        except KeyUnavailable:
            return None

    async def read_message_texts(
        self, session: AsyncSession, message_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        ids = list(message_ids)
        if not ids:
            return {}
        rows = await session.execute(
            select(MessageText.message_id, MessageText.conversation_id, MessageText.body).where(
                MessageText.message_id.in_(ids)
            )
        )
        texts: dict[uuid.UUID, str] = {}
        for message_id, conversation_id, sealed in rows.all():
            try:
                texts[message_id] = await self._keyring.decrypt(
                    None, conversation_id, sealed, _text_aad(message_id), any_workspace=True
                )
            except KeyUnavailable:
                continue  # erased: the conversation's key is gone
        return texts


# The column holding the key each of the vault's tables is sealed under (a key-store id).
_SEALED_UNDER = {
    MessageText.__tablename__: MessageText.conversation_id,
    PersonalField.__tablename__: PersonalField.subject_id,
}
SEALED_KEY_TABLES = frozenset(_SEALED_UNDER)


async def sealed_key_ids(session: AsyncSession, tables: Collection[str] | None = None) -> set[str]:
    """The data keys the vault's rows in this database are sealed under, as key-store ids:
    each conversation with message texts (its key) and each subject with personal fields (its
    key); of the tables in ``tables`` only (default: all of ``SEALED_KEY_TABLES``). ``confide
    backup verify`` checks that a backup's key-store copy holds them all."""
    found: set[str] = set()
    for table, column in _SEALED_UNDER.items():
        if tables is None or table in tables:
            keys = await session.scalars(select(column).distinct())
            found.update(str(key) for key in keys.all())
    return found
