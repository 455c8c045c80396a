"""The one access path for personal data read on behalf of someone: decrypt, record, return.

Why: "who read this person's data?" (GDPR Art. 5(2), 30, 32) is only answerable if no read can
skip the record. Every read that returns people's identities or message texts to a principal
goes through :func:`read_people` or :func:`read_transcript`: the vault decrypts inside the
caller's unit of work, one audit record naming every subject returned is appended to the same
unit, and only then are the values handed back. If the record cannot be appended, the call
raises and the unit rolls back: nothing is returned. Which fields a principal may see is the
policy's decision (``confide.access.policy``), taken by the caller before it asks.

Reads the system does for itself (routing a message to a channel, redelivering a reply, the
sender's own echo) use the vault directly and are not reads *by* anyone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.policy import Principal
from confide.audit import ledger
from confide.audit.chain import details_aad
from confide.core.db import UnitOfWork
from confide.core.errors import KeyUnavailable
from confide.privacy.connections import connection_ip_aad
from confide.privacy.vault import SEALED_COLUMNS as VAULT_SEALED_COLUMNS
from confide.privacy.vault import attachment_name_aad, attribute_value_aad

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def read_people(
    tx: UnitOfWork,
    rt: Runtime,
    principal: Principal,
    fields_by_subject: Mapping[uuid.UUID, Iterable[str] | None],
    *,
    action: str,
    resource: str,
    details: Mapping[str, Any] | None = None,
) -> dict[uuid.UUID, dict[str, str]]:
    """Decrypt, for ``principal``, the fields each subject's view allows (``None``: all of
    them; fields outside the view are never decrypted) and append one audit record (``action``
    on ``resource``) naming every subject returned, in ``tx``.

    Returns ``{subject_id: {field: value}}`` (``{}`` for an erased subject). Raises what the
    ledger raises (the unit then rolls back and nothing is returned)."""
    groups: dict[tuple[str, ...] | None, list[uuid.UUID]] = {}
    for subject_id, fields in fields_by_subject.items():
        groups.setdefault(tuple(sorted(fields)) if fields is not None else None, []).append(
            subject_id
        )
    values: dict[uuid.UUID, dict[str, str]] = {}
    for fields, subject_ids in groups.items():
        values.update(await rt.vault.read_fields(tx, subject_ids, fields))
    await ledger.append(
        tx,
        rt,
        principal,
        action,
        subjects=list(fields_by_subject),
        resource=resource,
        details=details,
    )
    return values


async def read_transcript(
    tx: UnitOfWork,
    rt: Runtime,
    principal: Principal,
    message_ids: Iterable[uuid.UUID],
    *,
    subject_id: uuid.UUID | None,
    action: str,
    resource: str,
) -> dict[uuid.UUID, str]:
    """Decrypt the texts of ``message_ids`` (one conversation, whose visitor is
    ``subject_id``) for ``principal`` and append the audit record in ``tx`` first.

    Returns ``{message_id: text}``; a message without stored text (transcripts off, or its
    conversation's key destroyed) is absent. Raises what the ledger raises."""
    ids = list(message_ids)
    texts = await rt.vault.read_message_texts(tx, ids) if ids else {}
    await ledger.append(tx, rt, principal, action, subject_id=subject_id, resource=resource)
    return texts


class SubjectDataReader:
    """Opens the sealed values of one data subject for an access/portability export (GDPR
    Art. 15, 20), row by row as the caller reads them.

    Its values are handed only to ``confide.privacy.export``, which writes them into the
    subject's sealed export and then appends one record of the whole act with
    :func:`record_subject_export` (the ZIP is deleted if that record cannot be appended, so
    nothing decrypted leaves without its record). One reader decrypts every kind of sealed
    column the subject data map exports; ``open_column`` returns ``None`` for a value whose key
    was destroyed (that part of the data is erased)."""

    def __init__(self, rt: Runtime, workspace_id: uuid.UUID, subject_id: uuid.UUID) -> None:
        self._rt = rt
        self.workspace_id = workspace_id
        self.subject_id = subject_id

    async def texts_of(
        self, session: AsyncSession, message_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """``{message_id: text}`` of the messages whose text is stored and readable."""
        return await self._rt.vault.read_message_texts(session, message_ids)

    async def open_column(self, table: str, column: str, row: Mapping[str, Any]) -> Any:
        """The plaintext of a sealed ``table.column`` of ``row``; raises ``KeyError`` for a
        column that is not sealed (the caller keeps its value as stored)."""
        opener = _OPENERS[(table, column)]
        value = row[column]
        if value is None:
            return None
        return await opener(self, row, value)


async def _open_vault_row(
    table: str, reader: SubjectDataReader, row: Mapping[str, Any], value: Any
) -> Any:
    return await reader._rt.vault.open_row(reader.workspace_id, table, row)


async def _open_context(reader: SubjectDataReader, row: Mapping[str, Any], value: Any) -> Any:
    return await reader._rt.vault.open_context(reader.workspace_id, row["id"], value)


async def _open_thread(reader: SubjectDataReader, row: Mapping[str, Any], value: Any) -> Any:
    return await reader._rt.vault.open_thread(reader.workspace_id, row["id"], value)


async def _open_note(reader: SubjectDataReader, row: Mapping[str, Any], value: Any) -> Any:
    return await reader._rt.vault.open_note(
        reader.workspace_id, row["conversation_id"], row["id"], value
    )


async def _open_with_subject_key(
    reader: SubjectDataReader, value: str, aad: str, *, as_json: bool = False
) -> Any:
    try:
        plain = await reader._rt.keyring.decrypt(reader.workspace_id, reader.subject_id, value, aad)
    except KeyUnavailable:
        return None
    return json.loads(plain) if as_json else plain


async def _open_attribute_value(
    reader: SubjectDataReader, row: Mapping[str, Any], value: Any
) -> Any:
    return await _open_with_subject_key(reader, value, attribute_value_aad(row["id"]))


async def _open_attachment_name(
    reader: SubjectDataReader, row: Mapping[str, Any], value: Any
) -> Any:
    try:
        return await reader._rt.keyring.decrypt(
            reader.workspace_id, row["conversation_id"], value, attachment_name_aad(row["id"])
        )
    except KeyUnavailable:
        return None


async def _open_ip(reader: SubjectDataReader, row: Mapping[str, Any], value: Any) -> Any:
    return await _open_with_subject_key(reader, value, connection_ip_aad(row["id"]))


async def _open_audit_details(reader: SubjectDataReader, row: Mapping[str, Any], value: Any) -> Any:
    if row.get("subject_id") != reader.subject_id:
        return None  # sealed under the chain's key: about several people, never exported
    return await _open_with_subject_key(reader, value, details_aad(row["id"]), as_json=True)


# table.column -> how its ciphertext opens. tests/privacy/test_export.py fails when an export
# holds a ciphertext, i.e. when a sealed exported column is missing here.
_OPENERS: dict[
    tuple[str, str],
    Callable[[SubjectDataReader, Mapping[str, Any], Any], Awaitable[Any]],
] = {
    **{key: partial(_open_vault_row, key[0]) for key in VAULT_SEALED_COLUMNS},
    ("conversations", "visitor_context"): _open_context,
    ("conversations", "external_thread_sealed"): _open_thread,
    ("conversation_notes", "body_sealed"): _open_note,
    ("connection_logs", "ip"): _open_ip,
    ("audit_events", "details_encrypted"): _open_audit_details,
    ("visitor_attribute_values", "value_sealed"): _open_attribute_value,
    ("attachments", "name_sealed"): _open_attachment_name,
}
SEALED_COLUMNS = frozenset(_OPENERS)


async def record_subject_export(
    tx: UnitOfWork,
    rt: Runtime,
    principal: Principal | ledger.Actor | None,
    subject_id: uuid.UUID,
    *,
    action: str,
    resource: str,
    details: Mapping[str, Any],
) -> None:
    """Append the one record of an export (or of a download of one) naming the subject, in
    ``tx``. ``principal`` ``None``: the command line. Raises what the ledger raises."""
    await ledger.append(
        tx, rt, principal, action, subject_id=subject_id, resource=resource, details=details
    )
