"""The shape of an audit chain: which chain an event belongs to, and what its hash covers.

Kept apart from appending and reading (``ledger``) so that checkpoints and the verifier build
on it without importing the ledger, and the ledger may sign checkpoints without a cycle.
An event's hash is SHA-256 over the canonical JSON (``confide.crypto.signing``) of every
column but ``hash``; ``subject_ids`` (the subjects of a list read) is covered when present, so
events written before it existed keep their hashes.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _encode_text
from typing import Any

from sqlalchemy import Select, and_, or_, select

from confide.audit.models import AuditEvent
from confide.crypto.signing import canonical_json

__all__ = [
    "AUDIT_KEY_NAMESPACE",
    "GENESIS_HASH",
    "HASH_VERSION",
    "PLATFORM_CHAIN",
    "canonical_json",
    "chain_id",
    "chain_key_id",
    "chain_query",
    "details_aad",
    "event_hash",
    "hashed_fields",
    "id_text",
    "iso_time",
    "quick_event_hash",
]

GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
HASH_VERSION = 1
# Namespace of the ledger's own data keys (uuid5), kept apart from subject and conversation ids.
AUDIT_KEY_NAMESPACE = uuid.UUID("6f1c2f0e-5c55-4a8e-9d3b-61756469746b")


def chain_id(workspace_id: uuid.UUID | None) -> str:
    return str(workspace_id) if workspace_id is not None else PLATFORM_CHAIN


def chain_key_id(workspace_id: uuid.UUID | None, purpose: str) -> uuid.UUID:
    """A data key of the chain itself: ``details`` (details about no one) or ``signing``."""
    return uuid.uuid5(AUDIT_KEY_NAMESPACE, f"audit-{purpose}:{chain_id(workspace_id)}")


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def id_text(value: uuid.UUID | None) -> str | None:
    """A UUID as text, ``None`` kept: how ids appear in hashed and rendered events."""
    return str(value) if value is not None else None


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """Everything the hash covers: every column but ``hash`` itself."""
    fields: dict[str, Any] = {
        "v": HASH_VERSION,
        "id": str(event.id),
        "workspace_id": id_text(event.workspace_id),
        "seq": event.seq,
        "at": iso_time(event.at),
        "actor_kind": event.actor_kind,
        "actor_id": id_text(event.actor_id),
        "action": event.action,
        "subject_id": id_text(event.subject_id),
        "resource": event.resource,
        "source": event.source,
        "details_encrypted": event.details_encrypted,
        "prev_hash": event.prev_hash,
    }
    if event.subject_ids is not None:
        fields["subject_ids"] = event.subject_ids
    return fields


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(hashed_fields(event))).hexdigest()


_TEXT_OR_NONE = frozenset({str, type(None)})


def quick_event_hash(event: AuditEvent) -> str:
    """:func:`event_hash`, the same bytes hashed, written out field by field in sorted key
    order instead of through a dict and ``json.dumps`` (a verify walks every record of every
    chain; this is 2 to 3x faster). Any value that is not text or None, or a ``seq`` that
    is not an int, is left to :func:`event_hash`."""
    values = (
        event.action,
        id_text(event.actor_id),
        event.actor_kind,
        iso_time(event.at),
        event.details_encrypted,
        str(event.id),
        event.prev_hash,
        event.resource,
        event.source,
        id_text(event.subject_id),
        event.subject_ids,
        id_text(event.workspace_id),
    )
    types = {type(v) for v in values}
    if type(event.seq) is not int or not types <= _TEXT_OR_NONE:
        return event_hash(event)
    (
        action,
        actor_id,
        actor_kind,
        at,
        details,
        event_id,
        prev_hash,
        resource,
        source,
        subject_id,
        subject_ids,
        workspace_id,
    ) = ["null" if v is None else _encode_text(v) for v in values]
    text = (
        f'{{"action":{action},"actor_id":{actor_id},"actor_kind":{actor_kind},"at":{at},'
        f'"details_encrypted":{details},"id":{event_id},"prev_hash":{prev_hash},'
        f'"resource":{resource},"seq":{event.seq},"source":{source},"subject_id":{subject_id},'
        + ("" if event.subject_ids is None else f'"subject_ids":{subject_ids},')
        + f'"v":{HASH_VERSION},"workspace_id":{workspace_id}}}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


def details_aad(event_id: uuid.UUID) -> str:
    return f"audit_events:{event_id}:details"


def after_position(query: Select[Any], last: tuple[int, uuid.UUID] | None) -> Select[Any]:
    """``query`` limited to the events after ``last`` (seq, id) in chain order. Keyset on
    (seq, id), not seq alone: a tampered chain may hold a seq twice, and a verifier must see
    both copies."""
    if last is None:
        return query
    return query.where(
        or_(AuditEvent.seq > last[0], and_(AuditEvent.seq == last[0], AuditEvent.id > last[1]))
    )


def chain_query(workspace_id: uuid.UUID | None) -> Select[AuditEvent]:
    # uq_audit_events_workspace_seq
    query = select(AuditEvent)
    if workspace_id is None:
        return query.where(AuditEvent.workspace_id.is_(None))
    return query.where(AuditEvent.workspace_id == workspace_id)
