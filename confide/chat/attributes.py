"""Purpose-bound visitor attributes: declared with a purpose and a retention, each value on its
own clock.

Why: a custom attribute ("shoe size") is personal data collected for one purpose ("size
advice"); GDPR Art. 5(1)(b) and (e) ask that it serve only that purpose and be kept no longer
than it needs. So a workspace first *declares* the attribute with its purpose and a retention in
days (audited; the declarations are the workspace's part of the record of processing, Art. 30),
and only declared attributes take values. Each value expires ``retention_days`` after it was
last set: the ``expire_visitor_attributes`` job deletes expired values in bounded batches (one
transaction each, oldest first through ``ix_visitor_attribute_values_expires_at``; idempotent,
so a crash only leaves work for the next run).

Values are sealed under the visitor's subject key (AAD ``attribute:<value id>``): erasing the
visitor destroys that key and the subject map deletes the rows; the access export reads them
with :func:`values_for_export`. Setting a value is storing a visitor's personal data, so it
passes the same consent gate as their messages.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Role
from confide.access.policy import (
    Action,
    ConversationAccess,
    Principal,
    authorize,
    can_work_conversation,
)
from confide.audit import ledger
from confide.chat.attachment_models import AttributeDefinition, AttributeValue
from confide.chat.models import Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.db import new_id
from confide.core.errors import Conflict, KeyUnavailable, NotFound, ValidationFailed
from confide.jobs.kinds import Batch, BatchResult, JobKind, register
from confide.privacy import consent
from confide.privacy.requests import limits
from confide.privacy.vault import attribute_value_aad
from confide.runtime import Runtime

EXPIRY_BATCH_SIZE = 500
MAX_VALUE_CHARS = 500
MAX_RETENTION_DAYS = 3650
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _render_definition(row: AttributeDefinition) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "purpose": row.purpose,
        "retention_days": row.retention_days,
        "created_at": row.created_at.isoformat(),
    }


async def do_define_attribute(
    rt: Runtime, principal: Principal, *, name: str, purpose: str, retention_days: int
) -> dict[str, Any]:
    """Declare an attribute of the principal's workspace (admins). Raises ``ValidationFailed``
    naming ``name`` (lowercase letters, digits, ``_``), ``purpose`` (empty) or
    ``retention_days`` (1-3650), ``Conflict`` when the name is taken."""
    authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    if not _NAME.match(name):
        raise ValidationFailed(
            "Name the attribute with lowercase letters, digits and '_' (e.g. shoe_size).",
            field="name",
        )
    purpose = purpose.strip()
    if not purpose:
        raise ValidationFailed("Say what the attribute is for (its purpose).", field="purpose")
    if not 1 <= retention_days <= MAX_RETENTION_DAYS:
        raise ValidationFailed(
            f"Keep values from 1 to {MAX_RETENTION_DAYS} days.", field="retention_days"
        )
    async with rt.db.transaction() as tx:
        taken = await tx.scalar(
            select(AttributeDefinition.id).where(
                AttributeDefinition.workspace_id == principal.workspace_id,
                AttributeDefinition.name == name,
            )
        )
        if taken is not None:
            raise Conflict("An attribute with this name exists already.", field="name")
        row = AttributeDefinition(
            id=new_id(),
            workspace_id=principal.workspace_id,
            name=name,
            purpose=purpose,
            retention_days=retention_days,
            created_by=principal.operator_id,
            created_at=utcnow(),
        )
        tx.add(row)
        await tx.flush()
        await ledger.append(
            tx,
            rt,
            principal,
            "visitor_attribute.define",
            resource=f"visitor_attribute:{row.id}",
            details={"name": name, "purpose": purpose, "retention_days": retention_days},
        )
    return _render_definition(row)


async def list_definitions(rt: Runtime, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    """The workspace's declared attributes (its entries in the record of processing)."""
    async with rt.db.session() as session:
        rows = await session.scalars(
            select(AttributeDefinition)
            .where(AttributeDefinition.workspace_id == workspace_id)
            .order_by(AttributeDefinition.name)
        )
        return [_render_definition(r) for r in rows.all()]


async def _visitor_in(
    session: AsyncSession, principal: Principal, visitor_id: uuid.UUID
) -> Visitor:
    """The visitor, if ``principal`` may see them: an API key of their workspace, or an
    admin of their workspace, or another operator whom the policy lets read one of their
    conversations (an agent of another group
    is told *not found*, as for the conversations themselves)."""
    visitor = await session.get(Visitor, visitor_id)
    if visitor is None or visitor.workspace_id != principal.workspace_id:
        raise NotFound("No such visitor in this workspace.")
    if principal.kind == "operator" and principal.role is not Role.ADMIN:
        # ix_conversations_visitor_id
        conversations = await session.scalars(
            select(Conversation).where(Conversation.visitor_id == visitor.id)
        )
        if not any(
            can_work_conversation(principal, c, ConversationAccess.READ) for c in conversations
        ):
            raise NotFound("No such visitor in this workspace.")
    return visitor


async def do_set_attribute(
    rt: Runtime, principal: Principal, visitor_id: uuid.UUID, name: str, value: str
) -> dict[str, Any]:
    """Set a visitor's value of a declared attribute (operators who work conversations, API
    keys that identify visitors); its clock restarts. Raises ``NotFound`` (visitor or
    attribute), ``ValidationFailed`` (``value``: empty or over 500 characters),
    ``ConsentRequired`` (the workspace requires consent and the visitor has not given it),
    ``Conflict`` (the visitor objected to enrichment or restricted processing)."""
    if principal.kind == "api_key":
        authorize(principal, Action.VISITORS_IDENTIFY)
    else:
        authorize(principal, Action.CONVERSATIONS_WORK)
    value = value.strip()
    if not value or len(value) > MAX_VALUE_CHARS:
        raise ValidationFailed(f"Give a value of 1-{MAX_VALUE_CHARS} characters.", field="value")
    async with rt.db.transaction() as tx:
        visitor = await _visitor_in(tx, principal, visitor_id)
        definition = await tx.scalar(
            select(AttributeDefinition).where(
                AttributeDefinition.workspace_id == visitor.workspace_id,
                AttributeDefinition.name == name,
            )
        )
        if definition is None:
            raise NotFound("Declare the attribute (with its purpose) before setting it.")
        await consent.require_for_storage(rt, tx, visitor.workspace_id, visitor.id)
        if await limits.objects_to(tx, visitor.subject_id, "enrichment"):
            raise Conflict(
                "This visitor objected to enrichment (GDPR Art. 21) or restricted processing "
                "(Art. 18): their attributes cannot be set."
            )
        row = await tx.scalar(
            select(AttributeValue).where(
                AttributeValue.definition_id == definition.id,
                AttributeValue.visitor_id == visitor.id,
            )
        )
        now = utcnow()
        if row is None:
            row = AttributeValue(id=new_id(), definition_id=definition.id, visitor_id=visitor.id)
            tx.add(row)
        row.value_sealed = await rt.keyring.encrypt(
            visitor.workspace_id, visitor.subject_id, value, attribute_value_aad(row.id)
        )
        row.set_at = now
        row.expires_at = now + timedelta(days=definition.retention_days)
        await tx.flush()
        await ledger.append(
            tx,
            rt,
            principal,
            "visitor.attribute_set",
            subject_id=visitor.subject_id,
            resource=f"visitor:{visitor.id}",
            details={"attribute": name},
        )
    return {"name": name, "value": value, "expires_at": row.expires_at.isoformat()}


async def _open_values(
    rt: Runtime, session: AsyncSession, visitor: Visitor
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(AttributeValue, AttributeDefinition)
        .join(AttributeDefinition, AttributeDefinition.id == AttributeValue.definition_id)
        .where(AttributeValue.visitor_id == visitor.id, AttributeValue.expires_at > utcnow())
        .order_by(AttributeDefinition.name)
    )
    out = []
    for value, definition in rows.all():
        try:
            plain: str | None = await rt.keyring.decrypt(
                visitor.workspace_id,
                visitor.subject_id,
                value.value_sealed,
                attribute_value_aad(value.id),
            )
        except KeyUnavailable:
            plain = None  # erased
        out.append(
            {
                "name": definition.name,
                "purpose": definition.purpose,
                "value": plain,
                "set_at": value.set_at.isoformat(),
                "expires_at": value.expires_at.isoformat(),
            }
        )
    return out


async def read_attributes(
    rt: Runtime, principal: Principal, visitor_id: uuid.UUID
) -> list[dict[str, Any]]:
    """A visitor's current (unexpired) values, each with its purpose and expiry; the read is
    recorded against the visitor's subject before anything is decrypted."""
    authorize(principal, Action.CONVERSATIONS_WORK)
    async with rt.db.transaction() as tx:
        visitor = await _visitor_in(tx, principal, visitor_id)
        await ledger.append(
            tx,
            rt,
            principal,
            "visitor.attributes_read",
            subject_id=visitor.subject_id,
            resource=f"visitor:{visitor.id}",
        )
        return await _open_values(rt, tx, visitor)


async def values_for_export(
    rt: Runtime, session: AsyncSession, visitor_id: uuid.UUID
) -> list[dict[str, Any]]:
    """For the data-subject access export (Art. 15, 20): the visitor's unexpired values with
    purpose and expiry, decrypted. The export records its own audit event."""
    visitor = await session.get(Visitor, visitor_id)
    return [] if visitor is None else await _open_values(rt, session, visitor)


async def expire_batch(session: AsyncSession, batch_size: int = EXPIRY_BATCH_SIZE) -> int:
    """Delete at most ``batch_size`` expired values, oldest first
    (``ix_visitor_attribute_values_expires_at``); returns how many."""
    ids = list(
        (
            await session.scalars(
                select(AttributeValue.id)
                .where(AttributeValue.expires_at <= utcnow())
                .order_by(AttributeValue.expires_at)
                .limit(batch_size)
            )
        ).all()
    )
    if ids:
        await session.execute(delete(AttributeValue).where(AttributeValue.id.in_(ids)))
    return len(ids)


async def _run_expire(batch: Batch) -> BatchResult:
    deleted = await expire_batch(batch.session, batch.size)
    return BatchResult(items=deleted, cursor=None, done=deleted < batch.size)


EXPIRE_VISITOR_ATTRIBUTES = register(
    JobKind(
        name="expire_visitor_attributes",
        description="Delete visitor attribute values whose retention has run out.",
        run_batch=_run_expire,
        every_seconds=3600,
        batch_size=EXPIRY_BATCH_SIZE,
    )
)


async def delete_values_of_subjects(session: AsyncSession, subject_ids: list[uuid.UUID]) -> int:
    """Delete every attribute value held about the visitors of ``subject_ids``, in the caller's
    transaction: carrying out an objection to enrichment (GDPR Art. 21, then Art. 17(1)(c)).
    Returns the number of values deleted."""
    visitors = select(Visitor.id).where(Visitor.subject_id.in_(subject_ids))
    result = await session.execute(
        delete(AttributeValue).where(AttributeValue.visitor_id.in_(visitors))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
