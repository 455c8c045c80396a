"""Carrying out a data subject's request, completing its case, and issuing the receipt.

- **Erasure** (Art. 17) runs the erasure engine (``confide.privacy.erasure.do_erase_subject``)
  for every visitor and operator of the subject; a legal hold stops it with ``LegalHold`` and
  the case records why it is blocked. Anonymised statistics stay (the engine keeps stubs).
- **Restriction** (Art. 18): the data stays; every conversation of the subject is marked
  ``restricted``, which the access policy hides from agents, managers, analysts and grants
  (``confide.access.policy.conversations``) and from analysts' reports. Lifting it is its own
  recorded act (Art. 18(3)).
- **Objection** (Art. 21): a processing limit naming the processing (engagement rules,
  enrichment, surveys); the modules that do that processing ask :func:`objects_to`.
- **Rectification** (Art. 16): identity fields rewritten through the vault; the history names
  the fields changed, never the old or new values.
- **Access / portability** (Art. 15, 20): the export ZIP, built by
  ``confide.privacy.export.build_subject_export`` (one call site: :func:`_export`).

Completing a case signs a receipt (``receipts``) and queues it, through the sealed outbox, to
the requester's address and to the workspace's admins; the requester's address is then removed
from the case and its key destroyed.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from confide.access.models import Operator, OperatorStatus, Role, Workspace
from confide.access.policy import Principal
from confide.audit.ledger import Actor
from confide.chat.attributes import delete_values_of_subjects
from confide.chat.events import conversation_changed
from confide.chat.models import Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import (
    Conflict,
    KeyUnavailable,
    LegalHold,
    NotFound,
    ValidationFailed,
)
from confide.core.mail import Mail, mail_enabled
from confide.privacy import export_store
from confide.privacy.erasure import do_erase_subject
from confide.privacy.export import build_subject_export
from confide.privacy.key_cache import destroy_keys
from confide.privacy.outbox import queue_mail
from confide.privacy.requests.answers import NOTHING_HELD, NOTHING_KNOWN
from confide.privacy.requests.cases import load_case, log_event, move
from confide.privacy.requests.limits import is_restricted
from confide.privacy.requests.models import DsrCase, ProcessingLimit
from confide.privacy.requests.receipts import receipt_text, sign_receipt
from confide.privacy.requests.views import CaseView, view
from confide.privacy.subject_map import PersonKind, SubjectRef

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from confide.runtime import Runtime

RECTIFIABLE = frozenset({"name", "email", "phone"})
WORKABLE = ("verified", "in_progress", "extended")


async def _subjects(rt: Runtime, session: AsyncSession, case: DsrCase) -> list[uuid.UUID]:
    """Every vault subject the request is about: the case's, and, while the requester's
    address is known, every other one with that address in the workspace (one person may be
    several visitors: other devices, other visits), found through the blind index."""
    found = [case.subject_id] if case.subject_id else []
    contact = await _contact(rt, case)
    if contact and "@" in contact:
        found += await rt.vault.find_subjects(
            session, workspace_id=case.workspace_id, field="email", value=contact
        )
    # The case's own subject first: the export kept on the case (and its links) is theirs.
    return sorted(set(found), key=lambda s: (s != case.subject_id, str(s)))


async def _people(session: AsyncSession, subject_ids: list[uuid.UUID]) -> list[SubjectRef]:
    """The visitors and operators of ``subject_ids``, in that order of subjects."""
    people: list[SubjectRef] = []
    kinds: tuple[tuple[PersonKind, type[Visitor] | type[Operator]], ...] = (
        ("visitor", Visitor),
        ("operator", Operator),
    )
    for subject_id in subject_ids:
        for kind, table in kinds:
            rows = await session.scalars(select(table.id).where(table.subject_id == subject_id))
            people.extend(SubjectRef(kind, person_id) for person_id in rows.all())
    return people


async def _restrict(rt: Runtime, tx: UnitOfWork, subject_ids: list[uuid.UUID], flag: bool) -> int:
    """Mark every conversation of the subjects' visitors ``restricted`` (or not), and tell
    open consoles after commit, so an agent's open subscription is revoked at once."""
    visitor_ids = select(Visitor.id).where(Visitor.subject_id.in_(subject_ids))
    # ix_conversations_visitor_id
    rows = (
        await tx.scalars(
            select(Conversation).where(
                Conversation.visitor_id.in_(visitor_ids), Conversation.restricted.is_not(flag)
            )
        )
    ).all()
    for conversation in rows:
        conversation.restricted = flag
        conversation_changed(tx, rt.broker, conversation, "restricted" if flag else "unrestricted")
    await tx.flush()
    return len(rows)


async def _export(
    rt: Runtime, actor: Principal | None, people: list[SubjectRef]
) -> tuple[str | None, dict[str, int]]:
    """The one call site of the export ZIP: ``build_subject_export`` (``confide.privacy.export``)
    for each visitor or operator of the subject, in its own units of work. Returns the first
    blob key (kept on the case) and the rows per record type."""
    key: str | None = None
    counts: dict[str, int] = {}
    for person in people:
        result = await build_subject_export(rt, actor, person)
        key = key or str(result.key)
        for table, rows in dict(result.counts).items():
            counts[str(table)] = counts.get(str(table), 0) + int(rows)
    return key, counts


async def _contact(rt: Runtime, case: DsrCase) -> str | None:
    if case.contact_sealed is None:
        return None
    try:
        return await rt.keyring.decrypt(
            case.workspace_id, case.id, case.contact_sealed, f"dsr_cases:{case.id}:contact"
        )
    except KeyUnavailable:
        return None


async def admin_addresses(rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID) -> list[str]:
    subject_ids = (
        await session.scalars(
            select(Operator.subject_id).where(
                Operator.workspace_id == workspace_id,
                Operator.role == Role.ADMIN,
                Operator.status == OperatorStatus.ACTIVE,
            )
        )
    ).all()
    fields = await rt.vault.read_fields(session, subject_ids, ["email"])
    return sorted({f["email"] for f in fields.values() if f.get("email")})


async def complete_in(
    tx: UnitOfWork,
    rt: Runtime,
    actor: Principal | Actor | None,
    case: DsrCase,
    *,
    outcome: str,
    actions: list[str],
    categories: list[str],
    counts: dict[str, int],
    reason: str | None = None,
) -> dict[str, Any]:
    """Complete (or reject) ``case`` in the caller's unit: status, signed receipt, mails to
    the requester and the admins through the outbox, and the requester's address removed."""
    move(case, "completed" if outcome == "completed" else "rejected")
    document = await sign_receipt(
        rt,
        case,
        outcome=outcome,
        actions=actions,
        categories=categories,
        counts=counts,
        reason=reason,
    )
    case.receipt = document
    requester = await _contact(rt, case)
    if mail_enabled(rt.settings):
        workspace = await tx.get(Workspace, case.workspace_id)
        name = workspace.name if workspace else "The controller"
        text = receipt_text(name, document)
        subject = f"Your {case.kind} request to {name}: receipt"
        for address in [requester, *await admin_addresses(rt, tx, case.workspace_id)]:
            if address:
                await queue_mail(rt, tx, case.workspace_id, Mail(address, subject, text))
    if case.contact_sealed is not None:
        case.contact_sealed = None
        tx.on_commit(destroy_keys, rt, [case.id])
    await log_event(
        tx,
        rt,
        actor,
        case,
        case.status,
        reason=reason,
        details={
            "counts": document["receipt"]["counts"],
            # No address (a widget visitor who gave none): the console tells the admin to
            # hand the answer over (``answers.requester_mailed``).
            "receipt_mailed_to_requester": bool(requester and mail_enabled(rt.settings)),
        },
    )
    return document


async def do_carry_out_case(
    rt: Runtime,
    actor: Principal | None,
    case_id: uuid.UUID,
    *,
    fields: dict[str, str | None] | None = None,
) -> CaseView:
    """Do what a verified case asks, then complete it with a signed receipt.

    ``fields``: for rectification, the identity fields to set (``name``, ``email``,
    ``phone``; ``None`` removes one). Raises Conflict (not verified, or closed), LegalHold
    (erasure blocked; recorded on the case, which stays open), ValidationFailed, NotFound."""
    async with rt.db.session() as session:
        case = await load_case(session, actor, case_id)
        if case.status not in WORKABLE:
            raise Conflict(f"A {case.status} request cannot be carried out; verify it first.")
        subject_ids = await _subjects(rt, session, case)
        people = await _people(session, subject_ids)
    counts: dict[str, int] = {}
    actions: list[str] = []
    categories: list[str] = []
    if case.kind == "erasure" and people:
        try:
            for person in people:
                report = await do_erase_subject(rt, actor, person.kind, person.person_id)
                counts["conversations"] = counts.get("conversations", 0) + report.conversations
                counts["keys_destroyed"] = counts.get("keys_destroyed", 0) + report.keys
                for table, n in report.rows.items():
                    counts[f"rows.{table}"] = counts.get(f"rows.{table}", 0) + n
        except LegalHold as exc:
            async with rt.db.transaction() as tx:
                blocked = await load_case(tx, actor, case_id, lock=True)
                await log_event(tx, rt, actor, blocked, "erasure_blocked", reason=exc.message)
            raise
        actions, categories = ["erased"], ["identity", "conversations", "messages", "consent"]
    export_key: str | None = None
    if case.kind in ("access", "portability") and people:
        export_key, counts = await _export(rt, actor, people)
        actions, categories = ["exported"], sorted(counts) or ["none"]
    async with rt.db.transaction() as tx:
        case = await load_case(tx, actor, case_id, lock=True)
        if case.status not in WORKABLE:
            raise Conflict(f"A {case.status} request cannot be carried out.")
        if case.subject_id is None and subject_ids:
            case.subject_id = subject_ids[0]  # identified since the request arrived
        if case.kind == "restriction" and subject_ids:
            for subject_id in subject_ids:
                tx.add(
                    ProcessingLimit(
                        workspace_id=case.workspace_id,
                        subject_id=subject_id,
                        kind="restriction",
                        processing="all",
                        case_id=case.id,
                    )
                )
            counts["conversations_restricted"] = await _restrict(rt, tx, subject_ids, True)
            actions, categories = ["restricted"], ["conversations", "messages", "identity"]
        elif case.kind == "objection" and subject_ids:
            assert case.processing is not None
            for subject_id in subject_ids:
                tx.add(
                    ProcessingLimit(
                        workspace_id=case.workspace_id,
                        subject_id=subject_id,
                        kind="objection",
                        processing=case.processing,
                        case_id=case.id,
                    )
                )
            actions, categories = [f"stopped:{case.processing}"], [case.processing]
            if case.processing == "enrichment":
                # Art. 17(1)(c): what enrichment added is erased once the person objects.
                deleted = await delete_values_of_subjects(tx, subject_ids)
                counts["attributes_deleted"] = deleted
                if deleted:
                    actions.append("erased:attributes")
        elif case.kind == "rectification" and subject_ids:
            changes = dict(fields or {})
            if not changes or set(changes) - RECTIFIABLE:
                raise ValidationFailed(
                    "Give the fields to correct: name, email, phone.", field="fields"
                )
            for subject_id in subject_ids:
                await rt.vault.write_fields(tx, subject_id, changes)
            # Field names only: the history never keeps old or new values in clear.
            counts["fields_rectified"] = len(changes)
            actions, categories = [f"rectified:{name}" for name in sorted(changes)], ["identity"]
        elif export_key is not None:
            case.export_key = export_key
        if not actions and not people:
            # Erased before (the subject was known): no export to pretend, the receipt says
            # nothing is held any more, the truthful Art. 15 answer.
            actions = [NOTHING_HELD if case.subject_id is not None else NOTHING_KNOWN]
        await complete_in(
            tx,
            rt,
            actor,
            case,
            outcome="completed",
            actions=actions,
            categories=categories,
            counts=counts,
        )
        return view(case)


async def do_lift_restriction(rt: Runtime, actor: Principal | None, case_id: uuid.UUID) -> CaseView:
    """Lift the restriction a case put in place (Art. 18(3)): conversations visible again to
    those the policy lets see them; recorded on the case and in the audit ledger."""
    async with rt.db.transaction() as tx:
        case = await load_case(tx, actor, case_id, lock=True)
        if case.kind != "restriction":
            raise Conflict("Only a restriction request can be lifted.")
        subject_ids = list(
            (
                await tx.scalars(
                    select(ProcessingLimit.subject_id).where(
                        ProcessingLimit.case_id == case.id, ProcessingLimit.lifted_at.is_(None)
                    )
                )
            ).all()
        )
        if not subject_ids:
            raise Conflict("This restriction is not in force.")
        await tx.execute(
            update(ProcessingLimit)
            .where(ProcessingLimit.case_id == case.id, ProcessingLimit.lifted_at.is_(None))
            .values(lifted_at=utcnow())
        )
        # Another restriction of the same person still in force keeps them hidden.
        free = [s for s in subject_ids if not await is_restricted(tx, s)]
        lifted = await _restrict(rt, tx, free, False) if free else 0
        await log_event(
            tx, rt, actor, case, "restriction_lifted", details={"conversations": lifted}
        )
        return view(case)


async def do_reject_case(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID, reason: str
) -> CaseView:
    """Refuse a request with the reason told to the person (Art. 12(4)); a receipt says so."""
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(
            "Give the reason; it is recorded and told to the person.", field="reason"
        )
    async with rt.db.transaction() as tx:
        case = await load_case(tx, actor, case_id, lock=True)
        case.rejection_reason = text[:1000]
        await complete_in(
            tx,
            rt,
            actor,
            case,
            outcome="rejected",
            actions=[],
            categories=[],
            counts={},
            reason=case.rejection_reason,
        )
        return view(case)


async def export_download_link(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID, *, issued_by: str
) -> tuple[str, datetime] | None:
    """A signed, short-lived download URL for the case's export ZIP and its expiry, or None
    when the case has none. The download itself is served and recorded by the exporter's
    route (``GET /api/v1/exports/{token}``); the link is signed by ``export_store.sign_link``."""
    async with rt.db.session() as session:
        case = await load_case(session, actor, case_id)
    if case.export_key is None or case.subject_id is None:
        return None
    token, expires = export_store.sign_link(
        rt, case.export_key, case.subject_id, case.workspace_id, issued_by
    )
    return f"/api/v1/exports/{token}", expires


async def save_case_export(rt: Runtime, case_id: uuid.UUID, path: Path) -> int:
    """Write the case's export ZIP to ``path`` (created 0600, never replacing a file), through
    a link like any download, so it is recorded as one. Returns the bytes written; NotFound
    when the case has no export."""
    found = await export_download_link(rt, None, case_id, issued_by="cli")
    if found is None:
        raise NotFound("This request has no export.", field="case_id")
    _, chunks = await export_store.open_export_download(rt, found[0].rsplit("/", 1)[1])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    with os.fdopen(fd, "wb") as handle:
        async for chunk in chunks:
            handle.write(chunk)
            written += len(chunk)
    return written
