"""The audit ledger: append-only, hash-chained records of who did what to whose data.

Design:
- **One chain per workspace** (and one for the platform). Each event carries ``seq`` (1, 2, ...)
  and ``prev_hash``, the hash of event ``seq - 1``; its own ``hash`` is SHA-256 over a canonical
  JSON of every field (:func:`event_hash`). Editing, deleting or reordering a record breaks the
  chain at that record; ``confide.audit.verify`` finds where.
- **Personal details are encrypted before hashing**, under the data subject's key, with the
  event id in the associated data. The hash covers the *ciphertext*, so erasing the subject
  (destroying their key) makes the details unreadable while the chain still verifies. Details of
  an act about no one (a setting change) are encrypted under the chain's own audit key instead,
  so the log reads the same way throughout; such details must never name a person.
- **No raw IP addresses**: ``source`` is a keyed hash of the client address (HMAC under the
  instance secret, truncated) and the node's name. Whoever holds the instance secret can test a
  suspected address against it, which is what an investigation needs, and nobody else can.
- **Appending is serialised per chain** by locking the chain's ``audit_heads`` row, so two
  nodes never both write the same ``seq``.
- **Recording happens after the act, in its own transaction** (:func:`record`). Callers record
  a read *before* returning the data, so a read that could not be audited fails instead of
  leaking; a change is recorded after its commit, so a crash in between loses that record (a
  missing entry, never a broken chain). The audit write cannot share the act's transaction:
  on SQLite that would wait on the write lock the act itself holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from confide.access.models import Operator
from confide.access.policy import Principal
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.models import AuditEvent, AuditHead
from confide.core.clock import utcnow
from confide.crypto.providers import KeyUnavailable
from confide.runtime import Runtime

GENESIS_HASH = "0" * 64
PLATFORM_CHAIN = "platform"
HASH_VERSION = 1
SOURCE_IP_HEX_CHARS = 16
NODE_NAME = socket.gethostname()[:48] or "node"
# Namespace of the ledger's own data keys (uuid5), kept apart from subject and conversation ids.
AUDIT_KEY_NAMESPACE = uuid.UUID("6f1c2f0e-5c55-4a8e-9d3b-61756469746b")
# Every this many events a chain signs a checkpoint of itself (``confide audit checkpoint``
# does it on demand, e.g. from cron).
CHECKPOINT_EVERY_EVENTS = 1000
READ_BATCH_SIZE = 500
log = logging.getLogger("confide.audit")


@dataclass(frozen=True)
class Actor:
    """Who acted. ``workspace_id`` names the chain the event goes to (None: the platform's)."""

    kind: str  # "operator", "api_key", "visitor", "system" or "anonymous"
    id: uuid.UUID | None
    workspace_id: uuid.UUID | None

    @classmethod
    def of(cls, principal: Principal | Actor | None) -> Actor:
        if principal is None:
            return cls("system", None, None)
        if isinstance(principal, Actor):
            return principal
        actor_id = principal.operator_id or principal.api_key_id or principal.visitor_id
        return cls(principal.kind, actor_id, principal.workspace_id)


async def operator_actor(rt: Runtime, operator_id: uuid.UUID) -> Actor:
    """An operator who has no principal yet (signing in)."""
    async with rt.db.session() as session:
        workspace_id = await session.scalar(
            select(Operator.workspace_id).where(Operator.id == operator_id)
        )
    return Actor("operator", operator_id, workspace_id)


async def anonymous_actor(rt: Runtime, workspace_slug: str | None) -> Actor:
    """Somebody not (yet) known, in the chain of the workspace they named, if it exists."""
    workspace = await find_workspace_by_slug(rt, workspace_slug) if workspace_slug else None
    return Actor("anonymous", None, workspace.id if workspace else None)


# -- hashing --------------------------------------------------------------------------------


def chain_id(workspace_id: uuid.UUID | None) -> str:
    return str(workspace_id) if workspace_id is not None else PLATFORM_CHAIN


def chain_key_id(workspace_id: uuid.UUID | None, purpose: str) -> uuid.UUID:
    """A data key of the chain itself: ``details`` (details about no one) or ``signing``."""
    return uuid.uuid5(AUDIT_KEY_NAMESPACE, f"audit-{purpose}:{chain_id(workspace_id)}")


def iso_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """Everything the hash covers: every column but ``hash`` itself."""
    return {
        "v": HASH_VERSION,
        "id": str(event.id),
        "workspace_id": _text(event.workspace_id),
        "seq": event.seq,
        "at": iso_time(event.at),
        "actor_kind": event.actor_kind,
        "actor_id": _text(event.actor_id),
        "action": event.action,
        "subject_id": _text(event.subject_id),
        "resource": event.resource,
        "source": event.source,
        "details_encrypted": event.details_encrypted,
        "prev_hash": event.prev_hash,
    }


def canonical_json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(hashed_fields(event))).hexdigest()


def details_aad(event_id: uuid.UUID) -> str:
    return f"audit_events:{event_id}:details"


def source_of(rt: Runtime, request: HTTPConnection | None) -> str:
    if request is None:
        return f"local@{NODE_NAME}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{rt.secret.keyed_hash('audit-ip', host)[:SOURCE_IP_HEX_CHARS]}@{NODE_NAME}"


# -- appending ------------------------------------------------------------------------------


async def record(
    rt: Runtime,
    actor: Principal | Actor | None,
    action: str,
    *,
    subject_id: uuid.UUID | None = None,
    resource: str | None = None,
    details: Mapping[str, Any] | None = None,
    request: HTTPConnection | None = None,
) -> AuditEvent:
    """Append one event to the actor's chain, in its own transaction. ``actor`` is the
    principal, an :class:`Actor`, or ``None`` for the command line (the platform chain).
    ``details`` are encrypted under ``subject_id``'s key (or the chain's, if there is none)."""
    who = Actor.of(actor)
    event_id = uuid.uuid4()
    sealed = None
    if details:
        key_id = subject_id if subject_id is not None else chain_key_id(who.workspace_id, "details")
        plaintext = canonical_json(details).decode()
        sealed = await rt.keyring.encrypt(
            who.workspace_id, key_id, plaintext, details_aad(event_id)
        )
    async with rt.db.transaction() as session:
        head = await _lock_head(session, chain_id(who.workspace_id))
        event = AuditEvent(
            id=event_id,
            workspace_id=who.workspace_id,
            seq=head.seq + 1,
            at=utcnow(),
            actor_kind=who.kind,
            actor_id=who.id,
            action=action,
            subject_id=subject_id,
            resource=resource,
            source=source_of(rt, request),
            details_encrypted=sealed,
            prev_hash=head.hash,
        )
        event.hash = event_hash(event)
        session.add(event)
        head.seq, head.hash = event.seq, event.hash
    if event.seq % CHECKPOINT_EVERY_EVENTS == 0:
        await _checkpoint_quietly(rt, who.workspace_id)
    return event


async def _checkpoint_quietly(rt: Runtime, workspace_id: uuid.UUID | None) -> None:
    """The periodic checkpoint is a bonus: the event is committed, so the act it records must
    not fail because the key store is unavailable; ``confide audit checkpoint`` catches up."""
    from confide.audit.checkpoints import create_checkpoint

    try:
        await create_checkpoint(rt, workspace_id)
    except Exception as exc:
        # The type only: exception text may carry personal data (confide.core.logging).
        log.error(
            "could not sign the periodic checkpoint of an audit chain (%s)", type(exc).__name__
        )


async def _lock_head(session: AsyncSession, chain: str) -> AuditHead:
    head = await session.get(AuditHead, chain, with_for_update=True)
    if head is not None:
        return head
    # First event of the chain. Two nodes may race here: on PostgreSQL the second insert waits
    # for the first to commit and then does nothing, and both go on to lock the same row.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(AuditHead)
        .values(chain_id=chain, seq=0, hash=GENESIS_HASH)
        .on_conflict_do_nothing(index_elements=["chain_id"])
    )
    head = await session.get(AuditHead, chain, with_for_update=True, populate_existing=True)
    assert head is not None
    return head


# -- reading --------------------------------------------------------------------------------


def chain_query(workspace_id: uuid.UUID | None) -> Select[AuditEvent]:
    # uq_audit_events_workspace_seq
    query = select(AuditEvent)
    if workspace_id is None:
        return query.where(AuditEvent.workspace_id.is_(None))
    return query.where(AuditEvent.workspace_id == workspace_id)


async def read_details(rt: Runtime, event: AuditEvent) -> tuple[dict[str, Any] | None, bool]:
    """The decrypted details and whether they were erased (the subject's key is gone)."""
    if event.details_encrypted is None:
        return None, False
    key_id = event.subject_id or chain_key_id(event.workspace_id, "details")
    try:
        plaintext = await rt.keyring.decrypt(
            event.workspace_id, key_id, event.details_encrypted, details_aad(event.id)
        )
    except KeyUnavailable:
        return None, True
    details: dict[str, Any] = json.loads(plaintext)
    return details, False


async def render_event(rt: Runtime, event: AuditEvent) -> dict[str, Any]:
    details, erased = await read_details(rt, event)
    return {
        "id": str(event.id),
        "seq": event.seq,
        "at": iso_time(event.at),
        "actor_kind": event.actor_kind,
        "actor_id": _text(event.actor_id),
        "action": event.action,
        "subject_id": _text(event.subject_id),
        "resource": event.resource,
        "source": event.source,
        "details": details,
        "erased": erased,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


async def list_events(
    rt: Runtime, workspace_id: uuid.UUID | None, *, limit: int, before_seq: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first, at most ``limit``; returns the page and whether older events exist."""
    query = chain_query(workspace_id)
    if before_seq is not None:
        query = query.where(AuditEvent.seq < before_seq)
    query = query.order_by(AuditEvent.seq.desc()).limit(limit + 1)
    async with rt.db.session() as session:
        events = list((await session.scalars(query)).all())
    return [await render_event(rt, e) for e in events[:limit]], len(events) > limit


async def iter_events(
    rt: Runtime, workspace_id: uuid.UUID | None, *, batch_size: int = READ_BATCH_SIZE
) -> AsyncIterator[AuditEvent]:
    """The whole chain, oldest first, in bounded batches (one short read each)."""
    # Keyset on (seq, id), not seq alone: a tampered chain may hold a seq twice, and the
    # verifier must see both copies.
    last: tuple[int, uuid.UUID] | None = None
    while True:
        query = chain_query(workspace_id)
        if last is not None:
            query = query.where(
                or_(
                    AuditEvent.seq > last[0],
                    and_(AuditEvent.seq == last[0], AuditEvent.id > last[1]),
                )
            )
        query = query.order_by(AuditEvent.seq, AuditEvent.id).limit(batch_size)
        async with rt.db.session() as session:
            batch = list((await session.scalars(query)).all())
        for event in batch:
            yield event
        if len(batch) < batch_size:
            return
        last = (batch[-1].seq, batch[-1].id)
