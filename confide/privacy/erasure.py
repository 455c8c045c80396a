"""Erasure of a data subject (GDPR Art. 17): every row the subject data map reaches, and keys.

Design:
- **One walk over the map.** ``confide.privacy.subject_map`` says, for each table, which owner
  (visitor, subject, conversation, message, operator, auth_session) reaches its rows through
  which column and what erasure does to them. This module resolves the owners of one person;
  ``confide.privacy.erasure_walk`` applies each reach, children first, naming no table of its
  own, so a table added to the map is erased without touching this code.
- **Bounded batches, resumable.** The first unit marks the subject erased (``subjects.erased_at``)
  which revokes the person's tokens at once (``authenticate_visitor_token`` checks it) and
  makes every later write refuse. Conversations go ``CONVERSATION_BATCH_SIZE`` per unit of
  work; the unit that finds none left also removes the person's own rows and appends
  ``subject.erase`` (a subject with fewer conversations than a batch is erased in one unit).
  An interrupted run leaves whole batches done and whole batches untouched, and running it
  again finishes the job.
- **Keys after commit, in one purge per unit.** Each unit schedules ``destroy_keys`` with
  ``on_commit``: the key store tombstones and deletes the batch's data keys in one transaction
  and purges once, so a rolled-back unit destroys nothing; then every node is told through the
  broker to drop its cached copies (``confide.privacy.key_cache``).
- **Blobs after commit.** Rows of tables whose map entry names ``blob_columns`` (attachments
  and their thumbnails) have their blobs deleted from the blob store once the unit commits.
- **Journaled before commit.** Each unit calls ``record_erasure`` (``confide.privacy.journal``)
  before it commits: the subject and key ids go to the key store's hash-chained journal and the
  keys are tombstoned, so a restored backup erases them again and a failed after-commit
  destruction is retried from the tombstones.
- **Legal hold** (Art. 17(3)(e)) is asked of :func:`held_conversation_ids` before anything is
  done, in the same transaction (``confide.privacy.holds``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.operators import notify_principal_changed
from confide.access.policy import Action, Principal, authorize, ensure_same_workspace
from confide.audit.ledger import append
from confide.core.blobs import delete_blobs
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, LegalHold, NotFound, ValidationFailed
from confide.core.id_lists import id_in
from confide.privacy import holds
from confide.privacy.erasure_operators import keep_an_admin, pseudonymise_operator
from confide.privacy.erasure_walk import ErasureReport, apply_reaches, mapped_table
from confide.privacy.export_store import delete_exports_of
from confide.privacy.journal import record_erasure
from confide.privacy.key_cache import destroy_keys
from confide.privacy.models import Subject
from confide.privacy.subject_map import Owner
from confide.privacy.vault import check_lookup

if TYPE_CHECKING:
    from confide.runtime import Runtime

CONVERSATION_BATCH_SIZE = 500
_CONVERSATION_OWNERS: tuple[Owner, ...] = ("message", "conversation")
_PERSON_OWNERS: tuple[Owner, ...] = ("auth_session", "operator", "visitor", "subject")


async def held_conversation_ids(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """Legal-hold check: the ids among ``conversation_ids`` that must not be destroyed, asked
    inside the destroying transaction (``confide.privacy.holds``; it locks those rows).
    Erasure refuses with ``LegalHold`` (409) while any conversation of the subject is held."""
    return await holds.held_conversation_ids(session, conversation_ids)


def _conversations_of(visitor_id: uuid.UUID, limit: int) -> Any:
    conversations = mapped_table("conversations")
    # ix_conversations_visitor_id: the visitor's conversations without a scan.
    return (
        select(conversations.c.id)
        .where(conversations.c.visitor_id == visitor_id)
        .order_by(conversations.c.id)
        .limit(limit)
    )


def _messages_of(session: AsyncSession, conversation_ids: list[uuid.UUID]) -> Any:
    messages = mapped_table("messages")
    return select(messages.c.id).where(id_in(session, messages.c.conversation_id, conversation_ids))


async def _find(
    session: AsyncSession, kind: str, person_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID | None]:
    """``(subject_id, workspace_id)`` of a visitor or operator; NotFound when there is none."""
    table = mapped_table("visitors" if kind == "visitor" else "operators")
    row = (
        await session.execute(
            select(table.c.subject_id, table.c.workspace_id).where(table.c.id == person_id)
        )
    ).first()
    if row is None:
        raise NotFound()
    return row[0], row[1]


async def _delete_conversations(
    rt: Runtime, tx: UnitOfWork, conversation_ids: list[uuid.UUID], report: ErasureReport
) -> None:
    """Every row the map reaches from ``conversation_ids``, then the conversations themselves,
    in the caller's unit; their blobs go after its commit (the destroyed key already makes them
    unreadable). Their keys are the caller's to destroy."""
    owners: dict[Owner, Any] = {
        "conversation": conversation_ids,
        "message": _messages_of(tx, conversation_ids),
    }
    blobs = await apply_reaches(tx, owners, _CONVERSATION_OWNERS, report)
    tx.on_commit(delete_blobs, rt.settings, blobs)  # attachment files and thumbnails
    conversations = mapped_table("conversations")
    result = await tx.execute(
        delete(conversations).where(id_in(tx, conversations.c.id, conversation_ids))
    )
    report.count("conversations", result.rowcount or 0)  # type: ignore[attr-defined]
    report.conversations += len(conversation_ids)


async def do_erase_subject(
    rt: Runtime,
    actor: Principal | None,
    kind: str,
    person_id: uuid.UUID,
    *,
    batch_size: int = CONVERSATION_BATCH_SIZE,
) -> ErasureReport:
    """Erase a visitor (with their conversations) or an operator: everything the subject data
    map reaches is deleted, nulled or kept as a pseudonymous stub, and their data keys (the
    subject's and each conversation's) are destroyed after commit and tombstoned.

    ``kind`` is ``"visitor"`` or ``"operator"``; ``actor`` an admin of the person's workspace
    (``None``: the command line). Raises ``NotFound`` (404) for an unknown id or another
    workspace, ``LegalHold`` (409) when a conversation is held, ``Forbidden`` (403) for a
    non-admin, ``Conflict`` (409) for an admin erasing themself. Erasing an already erased
    person finishes what remains (resumable) and is recorded again."""
    if kind not in ("visitor", "operator"):
        raise ValidationFailed("Erase a visitor or an operator.", field="kind")
    async with rt.db.transaction() as tx:
        subject_id, workspace_id = await _find(tx, kind, person_id)
        if actor is not None:
            authorize(actor, Action.SUBJECTS_ERASE)
            ensure_same_workspace(actor, workspace_id)
            if actor.operator_id == person_id:
                raise Conflict("You cannot erase your own account; ask another admin.")
        report = ErasureReport(kind, subject_id)
        if kind == "operator":
            await keep_an_admin(tx, person_id)
        if kind == "visitor":
            ids = list((await tx.scalars(_conversations_of(person_id, 1_000_000))).all())
            held = await held_conversation_ids(tx, ids)
            if held or await holds.visitor_held(tx, person_id):
                raise LegalHold(
                    f"{len(held)} conversation(s) of this person are under legal hold; "
                    "lift the hold before erasing."
                )
        # Revoke at once: tokens of an erased subject stop working and writes refuse.
        await tx.execute(
            update(Subject)
            .where(Subject.id == subject_id, Subject.erased_at.is_(None))
            .values(erased_at=utcnow())
        )
        person = (kind, person_id, subject_id, workspace_id)
        done = await _erase_share(rt, tx, actor, person, report, batch_size)
    while not done:
        async with rt.db.transaction() as tx:
            done = await _erase_share(rt, tx, actor, person, report, batch_size)
    if kind == "operator":
        await notify_principal_changed(rt, person_id)
    return report


async def _erase_share(
    rt: Runtime,
    tx: UnitOfWork,
    actor: Principal | None,
    who: tuple[str, uuid.UUID, uuid.UUID, uuid.UUID | None],
    report: ErasureReport,
    batch_size: int,
) -> bool:
    """One unit's share of an erasure: the next ``batch_size`` conversations; once none is
    left, the person's own rows and the ``subject.erase`` record too. The unit's keys are
    destroyed in one batch after it commits. Returns True when the erasure is complete (a
    subject with at most ``batch_size`` conversations is erased in a single unit). ``who``:
    ``(kind, person id, subject id, workspace id)``."""
    kind, person_id, subject_id, workspace_id = who
    report.batches += 1
    keys: list[uuid.UUID] = []
    if kind == "visitor":
        batch = list((await tx.scalars(_conversations_of(person_id, batch_size))).all())
        if batch:
            await _delete_conversations(rt, tx, batch, report)
            keys.extend(batch)
        if len(batch) == batch_size:
            await record_erasure(
                rt,
                tx,
                kind="erasure",
                workspace_id=workspace_id,
                subject_ids=[subject_id],
                key_ids=keys,
            )
            tx.on_commit(destroy_keys, rt, keys)
            report.keys += len(keys)
            return False
    person: dict[Owner, Any] = {"subject": [subject_id], kind: [person_id]}  # type: ignore[dict-item]
    if kind == "operator":
        sessions = mapped_table("auth_sessions")
        person["auth_session"] = select(sessions.c.id).where(sessions.c.operator_id == person_id)
        await pseudonymise_operator(tx, person_id)
    blobs = await apply_reaches(tx, person, _PERSON_OWNERS, report)
    tx.on_commit(delete_blobs, rt.settings, blobs)
    keys.append(subject_id)
    report.keys += len(keys)
    tx.on_commit(delete_exports_of, rt, [subject_id])  # their sealed access exports too
    await append(
        tx,
        rt,
        actor,
        "subject.erase",
        resource=f"{kind}:{person_id}",
        details={
            "kind": kind,
            "conversations": report.conversations,
            "rows": dict(sorted(report.rows.items())),
        },
    )
    await record_erasure(
        rt, tx, kind="erasure", workspace_id=workspace_id, subject_ids=[subject_id], key_ids=keys
    )
    tx.on_commit(destroy_keys, rt, keys)
    return True


async def erase_conversation_rows(
    rt: Runtime, conversation_ids: list[uuid.UUID], *, batch_size: int = CONVERSATION_BATCH_SIZE
) -> int:
    """Delete the given conversations that still exist and every row the map reaches from them,
    ``batch_size`` per unit, without touching keys or the journal: for a restore re-applying
    deletions whose keys were destroyed and journaled long ago (``confide.privacy.reapply``).
    Returns how many conversations were deleted."""
    conversations = mapped_table("conversations")
    deleted = 0
    for start in range(0, len(conversation_ids), batch_size):
        chunk = conversation_ids[start : start + batch_size]
        async with rt.db.transaction() as tx:
            batch = list(
                (
                    await tx.scalars(
                        select(conversations.c.id).where(conversations.c.id.in_(chunk))
                    )
                ).all()
            )
            if not batch:
                continue
            await _delete_conversations(rt, tx, batch, ErasureReport("conversation", batch[0]))
            deleted += len(batch)
    return deleted


async def do_erase_subjects_by(
    rt: Runtime, actor: Principal | None, workspace_id: uuid.UUID, field_name: str, value: str
) -> list[ErasureReport]:
    """Erase every visitor and operator of the workspace whose ``field_name`` (``email`` or
    ``phone``) matches ``value``, found through the vault's blind index (never a scan or a
    plaintext comparison). Returns one report per person; NotFound (404) when nobody matches."""
    if actor is not None:
        authorize(actor, Action.SUBJECTS_ERASE)
        ensure_same_workspace(actor, workspace_id)
    check_lookup(field_name, value)
    async with rt.db.session() as session:
        subject_ids = await rt.vault.find_subjects(
            session, workspace_id=workspace_id, field=field_name, value=value
        )
        people: list[tuple[str, uuid.UUID]] = []
        for kind, table_name in (("visitor", "visitors"), ("operator", "operators")):
            table = mapped_table(table_name)
            rows = await session.scalars(
                select(table.c.id).where(table.c.subject_id.in_(subject_ids))
            )
            people.extend((kind, person_id) for person_id in rows.all())
    if not people:
        raise NotFound("Nobody in this workspace has that e-mail address or phone number.")
    return [await do_erase_subject(rt, actor, kind, person_id) for kind, person_id in people]


async def erase_conversations_in(
    rt: Runtime,
    tx: UnitOfWork,
    conversation_ids: list[uuid.UUID],
    report: ErasureReport,
    *,
    keys_out: list[uuid.UUID] | None = None,
) -> None:
    """Destroy ``conversation_ids`` inside the caller's unit of work (retention's end of life,
    bulk delete): every row the map reaches from them, then the rows themselves. Their data
    keys are destroyed after commit, or, with ``keys_out``, added to it for the caller to
    destroy in one purge. The caller has checked :func:`held_conversation_ids`."""
    if not conversation_ids:
        return
    await _delete_conversations(rt, tx, conversation_ids, report)
    report.keys += len(conversation_ids)
    if keys_out is None:
        tx.on_commit(destroy_keys, rt, list(conversation_ids))
    else:
        keys_out.extend(conversation_ids)


async def erase_visitors_in(
    tx: UnitOfWork,
    visitor_ids: list[uuid.UUID],
    report: ErasureReport,
    keys_out: list[uuid.UUID],
) -> list[uuid.UUID]:
    """Erase, inside the caller's unit of work, those of ``visitor_ids`` that have no
    conversation left (one kept under a longer retention or a legal hold keeps its visitor):
    identity fields, attributes, tokens (``subjects.erased_at``), connection logs, consent rows
    (GDPR Art. 5(1)(e): nothing of theirs is kept longer than its purpose). Their subjects'
    keys are added to ``keys_out`` for the caller to destroy after commit, and the caller
    records the act naming the returned subject ids."""
    if not visitor_ids:
        return []
    visitors, conversations = mapped_table("visitors"), mapped_table("conversations")
    kept = select(conversations.c.visitor_id).where(
        id_in(tx, conversations.c.visitor_id, visitor_ids)
    )
    rows = (
        await tx.execute(
            select(visitors.c.id, visitors.c.subject_id).where(
                id_in(tx, visitors.c.id, visitor_ids), visitors.c.id.not_in(kept)
            )
        )
    ).all()
    if not rows:
        return []
    freed, subject_ids = [r[0] for r in rows], [r[1] for r in rows]
    await tx.execute(
        update(Subject)
        .where(id_in(tx, Subject.id, subject_ids), Subject.erased_at.is_(None))
        .values(erased_at=utcnow())
    )
    owners: dict[Owner, Any] = {"subject": subject_ids, "visitor": freed}
    await apply_reaches(tx, owners, ("visitor", "subject"), report)
    report.keys += len(subject_ids)
    keys_out.extend(subject_ids)
    return subject_ids
