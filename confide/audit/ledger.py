"""The audit ledger: append-only, hash-chained records of who did what to whose data.

Design:
- **One chain per workspace** (and one for the platform). Each event carries ``seq`` (1, 2, ...)
  and ``prev_hash``, the hash of event ``seq - 1``; its own ``hash`` is SHA-256 over a canonical
  JSON of every field (``confide.audit.chain``). Editing, deleting or reordering a record breaks
  the chain at that record; ``confide.audit.verify`` finds where.
- **Personal details are encrypted before hashing**, under the data subject's key, with the
  event id in the associated data. The hash covers the *ciphertext*, so erasing the subject
  (destroying their key) makes the details unreadable while the chain still verifies. Details of
  an act about no one, or about several people (a list read), are encrypted under the chain's
  own audit key instead; such details must never name a person.
- **Whose data**: ``subject_id`` names the one subject of an act; a read that returned several
  people (a list) names them all in ``subject_ids`` (hashed) and in ``audit_event_subjects``
  (the index behind "who read this person's data?").
- **No raw IP addresses**: ``source`` is a keyed hash of the client address (HMAC under the
  instance secret, truncated) and the node's name. The address comes from the request being
  served (``confide.core.client``), so actions need no request object.
- **Appending happens inside the act's own unit of work** (:func:`append`): the change and its
  record commit together or not at all, and a read whose record cannot be appended raises
  before anything is returned. Appending is serialised per chain by locking the chain's
  ``audit_heads`` row, so two nodes never both write the same ``seq``.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.audit.chain import (
    GENESIS_HASH,
    PLATFORM_CHAIN,
    after_position,
    canonical_json,
    chain_id,
    chain_key_id,
    chain_query,
    details_aad,
    event_hash,
    id_text,
    iso_time,
)
from confide.audit.checkpoints import create_checkpoint
from confide.audit.models import AuditEvent, AuditEventSubject, AuditHead
from confide.core.client import client_address
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import AuditUnavailable, KeyUnavailable

if TYPE_CHECKING:
    from confide.runtime import Runtime

__all__ = [
    "GENESIS_HASH",
    "PLATFORM_CHAIN",
    "Actor",
    "append",
    "event_hash",
    "iso_time",
    "iter_events",
    "list_events",
    "open_export",
    "read_details",
    "read_page",
    "record",
    "render_event",
]

SOURCE_IP_HEX_CHARS = 16
NODE_NAME = socket.gethostname()[:48] or "node"
# Every this many events a chain signs a checkpoint of itself (``confide audit checkpoint``
# does it on demand, e.g. from cron).
CHECKPOINT_EVERY_EVENTS = 1000
READ_BATCH_SIZE = 500
log = logging.getLogger("confide.audit")


class Principal(Protocol):
    """Who acts, as the ledger needs to know it: the shape of ``confide.access.policy.Principal``
    (the ledger sits below the access layer, whose actions record themselves here)."""

    @property
    def kind(self) -> str: ...
    @property
    def workspace_id(self) -> uuid.UUID | None: ...
    @property
    def operator_id(self) -> uuid.UUID | None: ...
    @property
    def api_key_id(self) -> uuid.UUID | None: ...
    @property
    def visitor_id(self) -> uuid.UUID | None: ...


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


def source_of(rt: Runtime) -> str:
    """Where the act came from: a keyed hash of the client address of the request being
    served, or ``local`` (command line, jobs), and this node's name."""
    host = client_address()
    if host is None:
        return f"local@{NODE_NAME}"
    return f"ip:{rt.secret.keyed_hash('audit-ip', host)[:SOURCE_IP_HEX_CHARS]}@{NODE_NAME}"


# -- appending ------------------------------------------------------------------------------


async def append(
    tx: UnitOfWork,
    rt: Runtime,
    actor: Principal | Actor | None,
    action: str,
    *,
    subject_id: uuid.UUID | None = None,
    subjects: Iterable[uuid.UUID | None] = (),
    resource: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the actor's chain inside ``tx``, the act's own unit of work.

    ``actor`` is the principal, an :class:`Actor`, or ``None`` for the command line (the
    platform chain). ``subject_id`` names the one person the act concerned; ``subjects`` the
    people a read returned (several: the event names them all, and its details are sealed
    under the chain's key). ``details`` are encrypted under the one subject's key, or the
    chain's. Raises :class:`AuditUnavailable` (503) when the key store or database cannot
    take the record: the caller's unit then rolls back, so no act commits without its record
    and no read returns without it."""
    try:
        return await _append(
            tx, rt, Actor.of(actor), action, subject_id, subjects, resource, details
        )
    except IntegrityError:
        raise  # the act's own pending change conflicted (flushed here): the act reports it
    except (SQLAlchemyError, KeyUnavailable, OSError) as exc:
        log.error("could not append an audit record: %s", type(exc).__name__)
        raise AuditUnavailable() from exc


async def _append(
    tx: UnitOfWork,
    rt: Runtime,
    who: Actor,
    action: str,
    subject_id: uuid.UUID | None,
    subjects: Iterable[uuid.UUID | None],
    resource: str | None,
    details: Mapping[str, Any] | None,
) -> AuditEvent:
    named = sorted({s for s in subjects if s is not None} | ({subject_id} if subject_id else set()))
    single = named[0] if len(named) == 1 else None
    event_id = uuid.uuid4()
    sealed = None
    if details:
        key_id = single if single is not None else chain_key_id(who.workspace_id, "details")
        plaintext = canonical_json(details).decode()
        sealed = await rt.keyring.encrypt(
            who.workspace_id, key_id, plaintext, details_aad(event_id)
        )
    head = await _lock_head(tx, chain_id(who.workspace_id))
    event = AuditEvent(
        id=event_id,
        workspace_id=who.workspace_id,
        seq=head.seq + 1,
        at=utcnow(),
        actor_kind=who.kind,
        actor_id=who.id,
        action=action,
        subject_id=single,
        subject_ids=" ".join(str(s) for s in named) if len(named) > 1 else None,
        resource=resource,
        source=source_of(rt),
        details_encrypted=sealed,
        prev_hash=head.hash,
    )
    event.hash = event_hash(event)
    tx.add(event)
    head.seq, head.hash = event.seq, event.hash
    await tx.flush()
    if len(named) > 1:
        # One multi-row INSERT, not an ORM object per subject (retention names hundreds).
        await tx.execute(
            sa_insert(AuditEventSubject),
            [{"event_id": event_id, "subject_id": s} for s in named],
        )
    if event.seq % CHECKPOINT_EVERY_EVENTS == 0:
        tx.on_commit(_checkpoint_quietly, rt, who.workspace_id)
    return event


async def record(
    rt: Runtime,
    actor: Principal | Actor | None,
    action: str,
    *,
    subject_id: uuid.UUID | None = None,
    subjects: Iterable[uuid.UUID | None] = (),
    resource: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """:func:`append` in a unit of its own, for domain code that has no unit open (an act
    that changed nothing in the database, such as a failed sign-in or a key rotation)."""
    async with rt.db.transaction() as tx:
        return await append(
            tx,
            rt,
            actor,
            action,
            subject_id=subject_id,
            subjects=subjects,
            resource=resource,
            details=details,
        )


async def _checkpoint_quietly(rt: Runtime, workspace_id: uuid.UUID | None) -> None:
    """The periodic checkpoint is a bonus: the event is committed, so the act it records must
    not fail because the key store is unavailable; ``confide audit checkpoint`` catches up."""
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
        "actor_id": id_text(event.actor_id),
        "action": event.action,
        "subject_id": id_text(event.subject_id),
        "subject_ids": event.subject_ids.split() if event.subject_ids else None,
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
    last: tuple[int, uuid.UUID] | None = None
    while True:
        query = after_position(chain_query(workspace_id), last)
        query = query.order_by(AuditEvent.seq, AuditEvent.id).limit(batch_size)
        async with rt.db.session() as session:
            batch = list((await session.scalars(query)).all())
        for event in batch:
            yield event
        if len(batch) < batch_size:
            return
        last = (batch[-1].seq, batch[-1].id)


async def read_page(
    rt: Runtime, principal: Principal, *, limit: int, before_seq: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """A page of the principal's workspace chain for an auditor (:func:`list_events`); the
    read itself is appended (``audit.read``) first, so an unrecorded read returns nothing."""
    await record(rt, principal, "audit.read", resource="audit:list")
    return await list_events(rt, principal.workspace_id, limit=limit, before_seq=before_seq)


async def open_export(rt: Runtime, principal: Principal) -> AsyncIterator[dict[str, Any]]:
    """Record the export (``audit.read``), then yield the whole chain rendered, oldest first.
    The record is appended before the first event is produced."""
    await record(rt, principal, "audit.read", resource="audit:export")

    async def rendered() -> AsyncIterator[dict[str, Any]]:
        async for event in iter_events(rt, principal.workspace_id):
            yield await render_event(rt, event)

    return rendered()
