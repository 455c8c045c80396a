"""Legal holds (GDPR Art. 17(3)(e), brief §3): data kept for legal claims is not destroyed.

A hold names one conversation, one data subject (a visitor, all of their conversations) or a
filter over a workspace's conversations (``channel``, ``group_id``, ``created_from`` and
``created_to`` as ISO dates), with a reason and an owner (the operator who answers for it).

- :func:`held_conversation_ids` is what every erasure and retention step asks, with the ids it
  is about to destroy, *inside its own transaction*: it locks those conversation rows (so a
  hold placed at the same moment waits for the destruction or blocks it, never misses it) and
  returns the ids that are flagged ``held`` or matched by an active hold now (a filter hold
  also covers conversations created after it was placed).
- Placing a hold sets ``conversations.held`` on what it matches; lifting it clears the flag
  where no other active hold still matches. Both are audited (``legal_hold.place``,
  ``legal_hold.lift`` with the lifting reason).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Group, Operator, OperatorStatus, Role
from confide.access.policy import Action, Principal, authorize
from confide.audit.ledger import append
from confide.chat.models import Channel, Conversation, Visitor
from confide.core.clock import utcnow
from confide.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from confide.core.id_lists import id_in
from confide.privacy.hold_models import LegalHoldRecord

if TYPE_CHECKING:
    from confide.runtime import Runtime

TARGETS = ("conversation", "subject", "filter")
FILTER_KEYS = ("channel", "group_id", "created_from", "created_to")
MAX_REASON_CHARS = 500


def _utc_day(value: str) -> datetime:
    return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)


def hold_rule(hold: LegalHoldRecord) -> ColumnElement[bool]:
    """The conversations ``hold`` covers, as a WHERE clause over ``conversations``."""
    in_workspace = Conversation.workspace_id == hold.workspace_id
    if hold.target == "conversation":
        return and_(in_workspace, Conversation.id == hold.conversation_id)
    if hold.target == "subject":
        return and_(in_workspace, Conversation.visitor_id == hold.visitor_id)
    spec = hold.filter or {}
    clauses: list[ColumnElement[bool]] = [in_workspace]
    if spec.get("channel"):
        clauses.append(Conversation.channel == Channel(spec["channel"]))
    if spec.get("group_id"):
        clauses.append(Conversation.group_id == uuid.UUID(spec["group_id"]))
    if spec.get("created_from"):
        clauses.append(Conversation.created_at >= _utc_day(spec["created_from"]))
    if spec.get("created_to"):  # inclusive: the whole last day
        clauses.append(Conversation.created_at < _utc_day(spec["created_to"]) + timedelta(days=1))
    return and_(*clauses)


async def active_holds(
    session: AsyncSession, workspace_ids: Iterable[uuid.UUID]
) -> list[LegalHoldRecord]:
    # ix_legal_holds_active
    query = select(LegalHoldRecord).where(
        LegalHoldRecord.workspace_id.in_(sorted(set(workspace_ids))),
        LegalHoldRecord.lifted_at.is_(None),
    )
    return list((await session.scalars(query)).all())


async def held_conversation_ids(
    session: AsyncSession, conversation_ids: list[uuid.UUID]
) -> set[uuid.UUID]:
    """The ids among ``conversation_ids`` that must not be destroyed (see the module doc).
    Call it in the transaction that destroys them: it locks their rows on PostgreSQL."""
    if not conversation_ids:
        return set()
    rows = (
        await session.execute(
            select(Conversation.id, Conversation.workspace_id, Conversation.held)
            .where(id_in(session, Conversation.id, conversation_ids))
            .with_for_update()
        )
    ).all()
    held = {row.id for row in rows if row.held}
    holds = await active_holds(session, {row.workspace_id for row in rows})
    rest = [row.id for row in rows if row.id not in held]
    if holds and rest:
        matched = await session.scalars(
            select(Conversation.id).where(
                id_in(session, Conversation.id, rest), or_(*(hold_rule(h) for h in holds))
            )
        )
        held.update(matched.all())
    return held


async def visitor_held(session: AsyncSession, visitor_id: uuid.UUID) -> bool:
    """Whether an active hold names this visitor (a subject hold), conversations or not."""
    found = await session.scalar(
        select(LegalHoldRecord.id).where(
            LegalHoldRecord.visitor_id == visitor_id, LegalHoldRecord.lifted_at.is_(None)
        )
    )
    return found is not None


def hold_dict(hold: LegalHoldRecord) -> dict[str, Any]:
    """The wire shape of a hold (ids, dates, reason; no personal data)."""
    return {
        "id": str(hold.id),
        "target": hold.target,
        "conversation_id": str(hold.conversation_id) if hold.conversation_id else None,
        "visitor_id": str(hold.visitor_id) if hold.visitor_id else None,
        "filter": hold.filter,
        "reason": hold.reason,
        "owner_id": str(hold.owner_id) if hold.owner_id else None,
        "created_at": hold.created_at.isoformat(),
        "lifted_at": hold.lifted_at.isoformat() if hold.lifted_at else None,
        "lift_reason": hold.lift_reason,
        "active": hold.lifted_at is None,
    }


def _require_admin(principal: Principal) -> uuid.UUID:
    authorize(principal, Action.SUBJECTS_ERASE)
    if principal.kind != "operator" or principal.role is not Role.ADMIN:
        raise Forbidden()
    assert principal.workspace_id is not None
    return principal.workspace_id


def _reason(text: str, field: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(f"Say why, in 1 to {MAX_REASON_CHARS} characters.", field=field)
    return text


async def _check_filter(
    session: AsyncSession, workspace_id: uuid.UUID, spec: dict[str, Any]
) -> dict[str, str]:
    unknown = set(spec) - set(FILTER_KEYS)
    if unknown:
        raise ValidationFailed(f"Filter by {', '.join(FILTER_KEYS)} only.", field="filter")
    clean = {k: str(v) for k, v in spec.items() if v not in (None, "")}
    if not clean:
        raise ValidationFailed("A filter hold needs at least one criterion.", field="filter")
    if "channel" in clean and clean["channel"] not in {c.value for c in Channel}:
        raise ValidationFailed("Unknown channel.", field="filter.channel")
    if "group_id" in clean:
        try:
            group = await session.get(Group, uuid.UUID(clean["group_id"]))
        except ValueError:
            group = None
        if group is None or group.workspace_id != workspace_id:
            raise ValidationFailed("No such group in this workspace.", field="filter.group_id")
    for key in ("created_from", "created_to"):
        if key in clean:
            try:
                date.fromisoformat(clean[key])
            except ValueError as exc:
                raise ValidationFailed("Give a date as YYYY-MM-DD.", field=f"filter.{key}") from exc
    return clean


async def do_place_legal_hold(
    rt: Runtime,
    admin: Principal,
    *,
    target: str,
    reason: str,
    owner_id: uuid.UUID | None = None,
    conversation_id: uuid.UUID | None = None,
    visitor_id: uuid.UUID | None = None,
    filter_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Place a hold on a conversation, a subject (visitor) or a filter of the admin's
    workspace; ``owner_id`` (default: the admin) answers for it. Returns the hold with
    ``held_now``, the conversations it covers now. Raises ``Forbidden`` (403) for a
    non-admin, ``ValidationFailed`` (422) naming the field."""
    workspace_id = _require_admin(admin)
    if target not in TARGETS:
        raise ValidationFailed("Hold a conversation, a subject or a filter.", field="target")
    reason = _reason(reason, "reason")
    async with rt.db.transaction() as tx:
        subject_id = None
        if target == "conversation":
            conversation = await tx.get(Conversation, conversation_id) if conversation_id else None
            if conversation is None or conversation.workspace_id != workspace_id:
                raise ValidationFailed("No such conversation.", field="conversation_id")
            visitor_id, filter_spec = None, None
            subject_id = await tx.scalar(
                select(Visitor.subject_id).where(Visitor.id == conversation.visitor_id)
            )
        elif target == "subject":
            visitor = await tx.get(Visitor, visitor_id) if visitor_id else None
            if visitor is None or visitor.workspace_id != workspace_id:
                raise ValidationFailed("No such visitor.", field="visitor_id")
            conversation_id, filter_spec, subject_id = None, None, visitor.subject_id
        else:
            filter_spec = await _check_filter(tx, workspace_id, filter_spec or {})
            conversation_id, visitor_id = None, None
        owner = owner_id or admin.operator_id
        owner_row = await tx.get(Operator, owner) if owner else None
        if (
            owner_row is None
            or owner_row.workspace_id != workspace_id
            or owner_row.status is not OperatorStatus.ACTIVE
        ):
            raise ValidationFailed(
                "The owner must be an operator of this workspace.", field="owner_id"
            )
        hold = LegalHoldRecord(
            workspace_id=workspace_id,
            target=target,
            conversation_id=conversation_id,
            visitor_id=visitor_id,
            filter=filter_spec,
            reason=reason,
            owner_id=owner,
            created_by=admin.operator_id,
            created_at=utcnow(),
        )
        tx.add(hold)
        await tx.flush()
        result = await tx.execute(update(Conversation).where(hold_rule(hold)).values(held=True))
        held_now = result.rowcount or 0  # type: ignore[attr-defined]
        await append(
            tx,
            rt,
            admin,
            "legal_hold.place",
            subject_id=subject_id,
            resource=f"legal_hold:{hold.id}",
            details={"target": target, "filter": filter_spec, "reason": reason, "held": held_now},
        )
        return {**hold_dict(hold), "held_now": held_now}


async def do_lift_legal_hold(
    rt: Runtime, admin: Principal, hold_id: uuid.UUID, *, reason: str
) -> dict[str, Any]:
    """Lift an active hold, saying why; conversations no other active hold covers become
    destroyable again. Raises ``NotFound`` (404) for another workspace's hold, ``Conflict``
    (409) for one already lifted, ``ValidationFailed`` (422, ``reason``)."""
    workspace_id = _require_admin(admin)
    reason = _reason(reason, "reason")
    async with rt.db.transaction() as tx:
        hold = await tx.get(LegalHoldRecord, hold_id, with_for_update=True)
        if hold is None or hold.workspace_id != workspace_id:
            raise NotFound("No such legal hold in this workspace.")
        if hold.lifted_at is not None:
            raise Conflict("This hold was already lifted.")
        hold.lifted_at = utcnow()
        hold.lifted_by = admin.operator_id
        hold.lift_reason = reason
        await tx.flush()
        others = [h for h in await active_holds(tx, [workspace_id]) if h.id != hold.id]
        still = or_(*(hold_rule(h) for h in others)) if others else false()
        result = await tx.execute(
            update(Conversation).where(hold_rule(hold), ~still).values(held=False)
        )
        released = result.rowcount or 0  # type: ignore[attr-defined]
        subject_id = None
        if hold.visitor_id is not None:
            subject_id = await tx.scalar(
                select(Visitor.subject_id).where(Visitor.id == hold.visitor_id)
            )
        await append(
            tx,
            rt,
            admin,
            "legal_hold.lift",
            subject_id=subject_id,
            resource=f"legal_hold:{hold.id}",
            details={"reason": reason, "released": released},
        )
        return {**hold_dict(hold), "released": released}


async def list_legal_holds(rt: Runtime, admin: Principal) -> list[dict[str, Any]]:
    """The workspace's holds, active first, newest first."""
    workspace_id = _require_admin(admin)
    async with rt.db.session() as session:
        rows = (
            await session.scalars(
                select(LegalHoldRecord)
                .where(LegalHoldRecord.workspace_id == workspace_id)
                .order_by(LegalHoldRecord.lifted_at.is_not(None), LegalHoldRecord.created_at.desc())
            )
        ).all()
    return [hold_dict(h) for h in rows]
