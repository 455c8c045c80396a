"""The breach register: record a personal-data breach, compute its deadlines, notify.

Why Confide computes the deadlines: GDPR Art. 33(1) gives a controller 72 hours from becoming
aware of a breach to notify its supervisory authority; Art. 33(2) obliges a processor to tell
the controller without undue delay, which this deployment's operator commits to as 24 hours;
Art. 34(1) requires telling the data subjects without undue delay when the risk to them is high.
Those clocks run from ``aware_at``; the register shows each deadline with what was done and
when, so "were we on time?" is answered by the record itself (Art. 33(5)).

Two kinds of breach: a workspace's own (its admins record it and notify the authority named in
the controller details), and the platform's (``workspace_id`` NULL, recorded from the command
line by the deployment's operator), which names the affected workspaces, whose admins are
e-mailed (``breach_notices``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.models import Workspace
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.core.clock import utcnow
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.accountability.models import Breach, BreachNotification

if TYPE_CHECKING:
    from confide.runtime import Runtime

Audience = Literal["admins", "authority", "subjects"]
ADMINS_DEADLINE_HOURS = 24  # processor to controller, Art. 33(2) (this deployment's promise)
AUTHORITY_DEADLINE_HOURS = 72  # controller to supervisory authority, Art. 33(1)
MAX_TEXT_CHARS = 4000
MAX_CATEGORIES = 30


@dataclass(frozen=True)
class BreachFacts:
    """What the register records of a breach (Art. 33(3)(a)-(d)); no personal data."""

    title: str
    nature: str
    detected_at: datetime
    data_categories: Sequence[str]
    subject_categories: Sequence[str]
    approx_subjects: int
    approx_records: int
    consequences: str
    measures: str
    high_risk: bool = False
    aware_at: datetime | None = None  # None: now


def _check(facts: BreachFacts) -> None:
    for field in ("title", "nature", "consequences", "measures"):
        value = getattr(facts, field)
        if not value.strip() or len(value) > MAX_TEXT_CHARS:
            raise ValidationFailed(
                f"Describe the {field} (at most {MAX_TEXT_CHARS} characters).", field=field
            )
    for field in ("data_categories", "subject_categories"):
        values = getattr(facts, field)
        if not values or len(values) > MAX_CATEGORIES or any(not v.strip() for v in values):
            raise ValidationFailed(
                f"Name 1-{MAX_CATEGORIES} {field.replace('_', ' ')}.", field=field
            )
    for field in ("approx_subjects", "approx_records"):
        if getattr(facts, field) < 0:
            raise ValidationFailed("Give an approximate number (0 or more).", field=field)
    if facts.detected_at > utcnow() + timedelta(minutes=5):
        raise ValidationFailed("The breach cannot be detected in the future.", field="detected_at")


def deadlines(
    breach: Breach, notes: Sequence[BreachNotification], viewer: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """The breach's deadlines with their state: ``open``, ``overdue``, ``met`` or ``late``.

    Platform breach: the affected workspaces' admins within 24 hours. Workspace breach: the
    supervisory authority within 72 hours (Art. 33(1)); the data subjects without undue delay
    when the risk is high (Art. 34(1); no fixed hours, so ``due_at`` is awareness itself).
    A platform breach seen by an affected workspace (``viewer``) carries that controller's own
    deadlines: its clock starts when the platform told its admins (Art. 33(2) then 33(1)), or
    at the platform's awareness while they have not been told (the earlier, safer start)."""
    rules: list[tuple[Audience, str, datetime]] = []
    if breach.workspace_id is None and viewer is not None:
        told = _met_at(breach, notes, "admins", viewer)
        _controller_rules(rules, breach, told or breach.aware_at)
        notes = [n for n in notes if n.workspace_id == viewer]
    elif breach.workspace_id is None:
        rules.append(
            (
                "admins",
                "Art. 33(2): tell each affected controller within 24 hours",
                breach.aware_at + timedelta(hours=ADMINS_DEADLINE_HOURS),
            )
        )
    else:
        _controller_rules(rules, breach, breach.aware_at)
    now = utcnow()
    result = []
    for audience, rule, due_at in rules:
        met_at = _met_at(breach, notes, audience)
        if met_at is not None:
            state = "met" if met_at <= due_at or audience == "subjects" else "late"
        else:
            state = "overdue" if now > due_at and audience != "subjects" else "open"
        result.append(
            {
                "audience": audience,
                "rule": rule,
                "due_at": due_at.isoformat(),
                "met_at": met_at.isoformat() if met_at else None,
                "state": state,
                "remaining_seconds": max(0, int((due_at - now).total_seconds())),
            }
        )
    return result


def _controller_rules(
    rules: list[tuple[Audience, str, datetime]], breach: Breach, aware_at: datetime
) -> None:
    rules.append(
        (
            "authority",
            "Art. 33(1): notify the supervisory authority within 72 hours",
            aware_at + timedelta(hours=AUTHORITY_DEADLINE_HOURS),
        )
    )
    if breach.high_risk:
        rules.append(
            (
                "subjects",
                "Art. 34(1): high risk, tell the data subjects without undue delay",
                aware_at,
            )
        )


def _met_at(
    breach: Breach,
    notes: Sequence[BreachNotification],
    audience: str,
    workspace_id: uuid.UUID | None = None,
) -> datetime | None:
    """When ``audience`` was first told; for the admins of a platform breach, when the last
    affected workspace was (each must be told, Art. 33(2)), or ``workspace_id``'s were."""
    first: dict[str, datetime] = {}
    for note in notes:
        if (
            note.audience == audience
            and note.status in ("sent", "queued", "recorded")
            and note.sent_at
        ):
            key = str(note.workspace_id) if audience == "admins" else audience
            first[key] = min(first.get(key, note.sent_at), note.sent_at)
    if audience == "admins" and workspace_id is not None:
        return first.get(str(workspace_id))
    if audience == "admins":
        if not breach.affected_workspace_ids or set(breach.affected_workspace_ids) - set(first):
            return None
        return max(first.values())
    return first.get(audience)


def render_notification(note: BreachNotification) -> dict[str, Any]:
    return {
        "id": str(note.id),
        "audience": note.audience,
        "workspace_id": str(note.workspace_id) if note.workspace_id else None,
        "method": note.method,
        "status": note.status,
        "recipients": note.recipients,
        "reference": note.reference,
        "sent_at": note.sent_at.isoformat() if note.sent_at else None,
    }


def render_breach(
    breach: Breach, notes: Sequence[BreachNotification], viewer: uuid.UUID | None = None
) -> dict[str, Any]:
    """The breach as its register shows it. An affected workspace (``viewer``) sees a platform
    breach with its own deadlines and notifications only, never the other workspaces'."""
    shown = (
        [n for n in notes if n.workspace_id == viewer]
        if viewer is not None and breach.workspace_id is None
        else list(notes)
    )
    affected = (
        [str(viewer)]
        if viewer is not None and breach.workspace_id is None
        else list(breach.affected_workspace_ids)
    )
    return {
        "id": str(breach.id),
        "scope": "platform" if breach.workspace_id is None else "workspace",
        "title": breach.title,
        "nature": breach.nature,
        "detected_at": breach.detected_at.isoformat(),
        "aware_at": breach.aware_at.isoformat(),
        "data_categories": list(breach.data_categories),
        "subject_categories": list(breach.subject_categories),
        "approx_subjects": breach.approx_subjects,
        "approx_records": breach.approx_records,
        "consequences": breach.consequences,
        "measures": breach.measures,
        "high_risk": breach.high_risk,
        "affected_workspace_ids": affected,
        "closed_at": breach.closed_at.isoformat() if breach.closed_at else None,
        "deadlines": deadlines(breach, notes, viewer),
        "notifications": [render_notification(n) for n in shown],
    }


async def notes_of(session: AsyncSession, breach_id: uuid.UUID) -> list[BreachNotification]:
    # ix_breach_notifications_breach_id
    rows = await session.scalars(
        select(BreachNotification)
        .where(BreachNotification.breach_id == breach_id)
        .order_by(BreachNotification.created_at, BreachNotification.id)
    )
    return list(rows.all())


def register_scope(principal: Principal | None) -> uuid.UUID | None:
    """The register the caller works in: its workspace's, or the platform's (command line)."""
    if principal is None:
        return None
    policy.authorize(principal, Action.AUDIT_READ)
    assert principal.workspace_id is not None
    return principal.workspace_id


async def do_record_breach(
    rt: Runtime,
    principal: Principal | None,
    facts: BreachFacts,
    *,
    affected_workspace_ids: Sequence[uuid.UUID] = (),
) -> dict[str, Any]:
    """Record a breach in the principal's workspace register (``None``: the platform's, which
    must name ``affected_workspace_ids``). Raises :class:`ValidationFailed`."""
    workspace_id = register_scope(principal)
    _check(facts)
    if workspace_id is None and not affected_workspace_ids:
        raise ValidationFailed(
            "Name the affected workspaces of a platform breach.", field="workspaces"
        )
    async with rt.db.transaction() as tx:
        for affected in affected_workspace_ids:
            if await tx.get(Workspace, affected) is None:
                raise NotFound("No such workspace.", field="workspaces")
        now = utcnow()
        breach = Breach(
            workspace_id=workspace_id,
            title=facts.title.strip(),
            nature=facts.nature.strip(),
            detected_at=facts.detected_at,
            aware_at=facts.aware_at or now,
            data_categories=[c.strip() for c in facts.data_categories],
            subject_categories=[c.strip() for c in facts.subject_categories],
            approx_subjects=facts.approx_subjects,
            approx_records=facts.approx_records,
            consequences=facts.consequences.strip(),
            measures=facts.measures.strip(),
            high_risk=facts.high_risk,
            affected_workspace_ids=[str(w) for w in affected_workspace_ids],
            recorded_by=principal.operator_id if principal is not None else None,
            created_at=now,
        )
        tx.add(breach)
        await tx.flush()
        await append(
            tx,
            rt,
            principal,
            "breach.record",
            resource=f"breach:{breach.id}",
            details={"high_risk": facts.high_risk, "workspaces": len(affected_workspace_ids)},
        )
        return render_breach(breach, [])


async def list_breaches(rt: Runtime, principal: Principal | None) -> list[dict[str, Any]]:
    """The register, newest first: the workspace's own breaches and the platform breaches
    that affected it (``None``: the platform's register)."""
    workspace_id = register_scope(principal)
    async with rt.db.session() as session:
        rows = (
            await session.scalars(
                select(Breach)
                .where(
                    Breach.workspace_id.is_(None)
                    if workspace_id is None
                    else Breach.workspace_id == workspace_id
                )
                .order_by(Breach.aware_at.desc(), Breach.id)
            )
        ).all()
        if workspace_id is not None:
            platform = await session.scalars(
                select(Breach).where(Breach.workspace_id.is_(None)).order_by(Breach.aware_at.desc())
            )
            rows = [*rows, *(b for b in platform if str(workspace_id) in b.affected_workspace_ids)]
        return [render_breach(b, await notes_of(session, b.id), workspace_id) for b in rows]


async def get_breach(
    rt: Runtime, principal: Principal | None, breach_id: uuid.UUID
) -> dict[str, Any]:
    workspace_id = register_scope(principal)
    async with rt.db.session() as session:
        breach = await session.get(Breach, breach_id)
        visible = breach is not None and (
            breach.workspace_id == workspace_id
            or (breach.workspace_id is None and str(workspace_id) in breach.affected_workspace_ids)
        )
        if not visible or breach is None:
            raise NotFound("No such breach in this register.", field="breach_id")
        return render_breach(breach, await notes_of(session, breach.id), workspace_id)


async def own_breach(
    tx: AsyncSession, breach_id: uuid.UUID, scope: uuid.UUID | None, *, affected: bool = False
) -> Breach:
    """The breach of register ``scope``, locked; with ``affected``, also a platform breach
    that affected workspace ``scope`` (its controller notifies its own authority and people).
    Raises :class:`NotFound`."""
    breach = await tx.get(Breach, breach_id, with_for_update=True)
    mine = breach is not None and (
        breach.workspace_id == scope
        or (
            affected
            and scope is not None
            and breach.workspace_id is None
            and str(scope) in breach.affected_workspace_ids
        )
    )
    if breach is None or not mine:
        raise NotFound("No such breach in this register.", field="breach_id")
    return breach


async def do_close_breach(rt: Runtime, principal: Principal | None, breach_id: uuid.UUID) -> None:
    """Mark a breach handled; it stays in the register."""
    scope = register_scope(principal)
    async with rt.db.transaction() as tx:
        breach = await own_breach(tx, breach_id, scope)
        breach.closed_at = utcnow()
        await append(tx, rt, principal, "breach.close", resource=f"breach:{breach.id}")
