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

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from confide.access.policy import Principal
from confide.audit import ledger
from confide.core.db import UnitOfWork

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
