"""Verifying an audit chain: walk it in order and name the first thing that is wrong.

The walk reads the chain oldest first in bounded batches and checks, for record *n*:

1. ``seq`` is *n*: a jump means records are **missing**; a repeat or step back, **reordered**.
2. ``prev_hash`` is the hash of record *n - 1*: otherwise records were **reordered** (or one
   before it was replaced).
3. its hash, recomputed over all of its fields, is its ``hash``: otherwise it was **edited**.
4. every checkpoint at *n* carries a valid signature by the chain's key (kept in the key store)
   and the hash of record *n*: otherwise the checkpoint is **forged**, or the chain was
   **rewritten** after it was signed.

After the walk, a chain that ends before its recorded head, or before a checkpoint, lost its
last records. Checkpoints exported earlier can be passed in (``--checkpoints``); they are
checked like the stored ones, which catches a rewrite of the checkpoints table as well.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import namedtuple
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import String, select, type_coerce

from confide.audit.chain import (
    GENESIS_HASH,
    PLATFORM_CHAIN,
    after_position,
    chain_id,
    chain_query,
    quick_event_hash,
)
from confide.audit.checkpoints import SignedHead, stored_checkpoints, trusted_public_key
from confide.audit.ledger import READ_BATCH_SIZE
from confide.audit.models import AuditCheckpoint, AuditEvent, AuditHead

if TYPE_CHECKING:
    from confide.runtime import Runtime

ProblemKind = Literal["edited", "missing", "reordered", "checkpoint_forged", "checkpoint_mismatch"]


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    seq: int
    message: str


@dataclass(frozen=True)
class ChainReport:
    workspace_id: uuid.UUID | None
    records: int
    checkpoints: int
    head_seq: int
    head_hash: str
    problem: Problem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _check_checkpoint(
    signed: SignedHead, trusted_key: str | None, record_hash: str | None
) -> Problem | None:
    if trusted_key is None or signed.public_key != trusted_key:
        return Problem(
            "checkpoint_forged",
            signed.seq,
            f"The checkpoint at seq {signed.seq} was not signed with this chain's key.",
        )
    if not signed.signature_valid():
        return Problem(
            "checkpoint_forged",
            signed.seq,
            f"The checkpoint at seq {signed.seq} has an invalid signature.",
        )
    if record_hash is None:
        return Problem(
            "missing",
            signed.seq,
            f"A checkpoint signed record {signed.seq}, but the chain ends before it.",
        )
    if signed.head_hash != record_hash:
        return Problem(
            "checkpoint_mismatch",
            signed.seq,
            f"Record {signed.seq} differs from the signed checkpoint: the chain up to it was "
            "rewritten.",
        )
    return None


async def verify_chain(
    rt: Runtime,
    workspace_id: uuid.UUID | None,
    *,
    external: Iterable[SignedHead] = (),
    batch_size: int = READ_BATCH_SIZE,
) -> ChainReport:
    """Walk one chain (a workspace's, or the platform's with ``None``) and report the first
    problem. ``external`` adds exported checkpoints; those of other chains are ignored."""
    wanted = str(workspace_id) if workspace_id is not None else None
    signed_heads = [
        *await stored_checkpoints(rt, workspace_id),
        *(s for s in external if s.workspace_id == wanted),
    ]
    by_seq: dict[int, list[SignedHead]] = {}
    for signed in signed_heads:
        by_seq.setdefault(signed.seq, []).append(signed)
    trusted_key = await trusted_public_key(rt, workspace_id)
    async with rt.db.session() as session:
        # The head is read before the walk: records appended meanwhile only come after it.
        head = await session.get(AuditHead, chain_id(workspace_id))

    expected, prev_hash, records = 1, GENESIS_HASH, 0
    problem: Problem | None = None
    async for batch in _event_batches(rt, workspace_id, batch_size):
        for event in batch:
            if records % YIELD_EVERY_RECORDS == YIELD_EVERY_RECORDS - 1:
                await asyncio.sleep(0)  # a backup verify feeds pg_restore from the same loop
            problem = _check_event(event, expected, prev_hash, head)
            if problem is None:
                for signed in by_seq.pop(event.seq, []):
                    problem = problem or _check_checkpoint(signed, trusted_key, event.hash)
            if problem is not None:
                break
            records += 1
            expected, prev_hash = expected + 1, event.hash
        if problem is not None:
            break

    last_seq = expected - 1
    if problem is None and head is not None and head.seq > last_seq:
        problem = Problem(
            "missing",
            last_seq + 1,
            f"The chain ends at record {last_seq} but its head is record {head.seq}: the last "
            "records were deleted.",
        )
    if problem is None:
        for seq in sorted(by_seq):
            for signed in by_seq[seq]:
                problem = problem or _check_checkpoint(signed, trusted_key, None)
    return ChainReport(
        workspace_id=workspace_id,
        records=records,
        checkpoints=len(signed_heads),
        head_seq=last_seq,
        head_hash=prev_hash,
        problem=problem,
    )


# Records checked between two turns of the event loop.
YIELD_EVERY_RECORDS = 1000


async def _event_batches(
    rt: Runtime, workspace_id: uuid.UUID | None, batch_size: int
) -> AsyncIterator[list[AuditEvent]]:
    """The chain as :func:`confide.audit.ledger.iter_events` reads it (same order and keyset),
    ``batch_size`` records at a time, but as plain rows rather than ORM objects, with the ids
    as the text hashing uses instead of ``uuid.UUID`` objects: all hashing reads, at a
    fraction of the cost per record (a verify of a backup walks every record). On PostgreSQL
    the rows are read through the driver (``_pg_event_batches``)."""
    if not rt.db.is_sqlite:
        async for batch in _pg_event_batches(rt, workspace_id, batch_size):
            yield batch
        return
    columns = [
        type_coerce(column, String) if column.name in _ID_COLUMNS else column
        for column in AuditEvent.__table__.columns
    ]
    names = [column.name for column in AuditEvent.__table__.columns]
    last: tuple[int, uuid.UUID] | None = None
    while True:
        query = after_position(chain_query(workspace_id).with_only_columns(*columns), last)
        query = query.order_by(AuditEvent.seq, AuditEvent.id).limit(batch_size)
        async with rt.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        batch = [_as_event(dict(zip(names, row, strict=True))) for row in rows]
        yield batch
        if len(batch) < batch_size:
            return
        last = (batch[-1].seq, uuid.UUID(str(batch[-1].id)))


_ID_COLUMNS = frozenset({"id", "workspace_id", "actor_id", "subject_id"})
_NAMES = [column.name for column in AuditEvent.__table__.columns]
# The same rows, order and keyset as the query above, as one prepared statement with the ids
# cast to text by the server: about 3x less work per record than through SQLAlchemy's result
# processing. Names from the model; (seq, id) > ($2, $3) is the row comparison of
# ``after_position``.
_PG_COLUMNS = ", ".join(f"{n}::text" if n in _ID_COLUMNS else n for n in _NAMES)
_PG_CHAIN = (
    f"SELECT {_PG_COLUMNS} FROM audit_events WHERE {{chain}} AND {{after}}"  # noqa: S608
    " ORDER BY seq, id LIMIT $3"
)


# A record as the driver returns it, with the model's names for its fields: a tuple, built in
# one call from the driver's row (no dict per record).
_PgEvent = namedtuple("_PgEvent", _NAMES)  # type: ignore[misc]


async def _pg_event_batches(
    rt: Runtime, workspace_id: uuid.UUID | None, batch_size: int
) -> AsyncIterator[list[AuditEvent]]:
    chain = "workspace_id IS NULL" if workspace_id is None else "workspace_id = $4"
    extra = () if workspace_id is None else (workspace_id,)
    last: tuple[int, uuid.UUID] | None = None
    while True:
        after = (
            "$1::bigint IS NULL AND $2::uuid IS NULL" if last is None else "(seq, id) > ($1, $2)"
        )
        query = _PG_CHAIN.format(chain=chain, after=after)
        async with rt.db.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None
            keyset = last or (None, None)  # unused by the first page's query
            rows = await driver.fetch(query, *keyset, batch_size, *extra)
        batch = cast(list[AuditEvent], [_PgEvent._make(row) for row in rows])
        yield batch
        if len(batch) < batch_size:
            return
        last = (batch[-1].seq, uuid.UUID(str(batch[-1].id)))


def _as_event(values: dict[str, Any]) -> AuditEvent:
    """A read-only stand-in with the event's attributes, ids as dashed text (SQLite stores a
    UUID as 32 hex digits, PostgreSQL returns its own UUID type)."""
    for name in _ID_COLUMNS:
        raw = values[name]
        if raw is not None:
            text = str(raw)
            if len(text) == 32:
                text = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
            values[name] = text
    return cast(AuditEvent, SimpleNamespace(**values))


def _check_event(
    event: AuditEvent, expected: int, prev_hash: str, head: AuditHead | None
) -> Problem | None:
    if event.seq > expected:
        gap = f"{expected}" if event.seq == expected + 1 else f"{expected} to {event.seq - 1}"
        return Problem(
            "missing", expected, f"Record {gap} is missing: the chain jumps to {event.seq}."
        )
    if event.seq < expected:
        return Problem("reordered", event.seq, f"Record {event.seq} appears twice or out of order.")
    if event.prev_hash != prev_hash:
        return Problem(
            "reordered",
            event.seq,
            f"Record {event.seq} does not follow record {event.seq - 1}: records were "
            "reordered, or the one before it was replaced.",
        )
    if quick_event_hash(event) != event.hash or (
        head is not None and head.seq == event.seq and head.hash != event.hash
    ):
        return Problem(
            "edited", event.seq, f"Record {event.seq} was edited: its hash does not match."
        )
    return None


async def all_chains(rt: Runtime) -> list[uuid.UUID | None]:
    """Every chain that has a head, a record or a checkpoint (the platform's as ``None``)."""
    async with rt.db.session() as session:
        heads = (await session.scalars(select(AuditHead.chain_id))).all()
        events = (await session.scalars(select(AuditEvent.workspace_id).distinct())).all()
        signed = (await session.scalars(select(AuditCheckpoint.workspace_id).distinct())).all()
    found: set[uuid.UUID | None] = set(events) | set(signed)
    found |= {None if h == PLATFORM_CHAIN else uuid.UUID(h) for h in heads}
    return sorted(found, key=lambda c: (c is not None, str(c)))
