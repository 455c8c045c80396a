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


class _Unusual(Exception):
    """A value :func:`quick_event_hash` does not write itself (left to :func:`event_hash`)."""


def _json_text(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is str:
        return _encode_text(value)
    raise _Unusual


def quick_event_hash(event: AuditEvent) -> str:
    """:func:`event_hash`, the same bytes hashed, written out field by field in sorted key
    order instead of through a dict and ``json.dumps`` (a verify walks every record of every
    chain; this is about 3x faster). Any value that is not text, None or (``seq``) an int is
    left to :func:`event_hash`."""
    try:
        seq = event.seq
        if type(seq) is not int:
            raise _Unusual
        subject_ids = event.subject_ids
        text = "".join(
            (
                '{"action":',
                _json_text(event.action),
                ',"actor_id":',
                _json_text(id_text(event.actor_id)),
                ',"actor_kind":',
                _json_text(event.actor_kind),
                ',"at":',
                _json_text(iso_time(event.at)),
                ',"details_encrypted":',
                _json_text(event.details_encrypted),
                ',"id":',
                _json_text(str(event.id)),
                ',"prev_hash":',
                _json_text(event.prev_hash),
                ',"resource":',
                _json_text(event.resource),
                ',"seq":',
                str(seq),
                ',"source":',
                _json_text(event.source),
                ',"subject_id":',
                _json_text(id_text(event.subject_id)),
                "" if subject_ids is None else ',"subject_ids":' + _json_text(subject_ids),
                ',"v":',
                str(HASH_VERSION),
                ',"workspace_id":',
                _json_text(id_text(event.workspace_id)),
                "}",
            )
        )
    except _Unusual:
        return event_hash(event)
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
