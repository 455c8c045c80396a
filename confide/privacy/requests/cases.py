"""Data-subject request cases: who asked for what, by when it is due, and every step since.

Deadlines (GDPR Art. 12(3)): a request is answered "without undue delay and in any event within
one month of receipt"; the month may be extended by two further months where necessary, with
the subject told why. Confide computes the legal month by the calendar (31 January -> the last
day of February) and keeps each workspace's own, shorter target (``dsr_settings.target_days``,
7 by default) beside it. An extension moves the legal due date once, by two months from the
original one, and needs a recorded reason.

Status machine (anything else raises ``Conflict``)::

    received ──────────────┬──> verified ──> in_progress ──> completed
      └─> awaiting_verification ┘   │  ╲          │  ╲
                                     │   extended <┘   rejected (with a reason)
                                     └──> rejected

``extended`` carries on like ``in_progress``. Every change is a row of ``dsr_case_events``
and an audit record in the same unit of work. Only admins handle cases (the policy's
``subjects.erase`` action); ``actor=None`` is the command line.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access.models import Operator
from confide.access.policy import Action, Principal, authorize, ensure_same_workspace
from confide.audit.ledger import Actor, append
from confide.chat.models import Visitor
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork
from confide.core.errors import Conflict, NotFound, ValidationFailed
from confide.privacy.models import Subject
from confide.privacy.requests.limits import PROCESSING as OBJECTABLE
from confide.privacy.requests.models import DsrCase, DsrCaseEvent, DsrSettings
from confide.privacy.requests.views import CaseView, view

if TYPE_CHECKING:
    from confide.runtime import Runtime

KINDS = ("access", "portability", "rectification", "erasure", "restriction", "objection")
CHANNELS = ("portal", "widget", "console", "api", "cli", "email", "letter", "phone")
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"awaiting_verification", "verified", "rejected"}),
    "awaiting_verification": frozenset({"verified", "rejected"}),
    "verified": frozenset({"in_progress", "extended", "completed", "rejected"}),
    "in_progress": frozenset({"extended", "completed", "rejected"}),
    "extended": frozenset({"in_progress", "completed", "rejected"}),
    "completed": frozenset(),
    "rejected": frozenset(),
}
OPEN_STATUSES = tuple(status for status, onward in TRANSITIONS.items() if onward)
DEFAULT_TARGET_DAYS = 7
LEGAL_MONTHS = 1
EXTENSION_MONTHS = 2
REASON_MAX_CHARS = 1000


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, clamped to the month's last day (31 Jan + 1 = 28/29
    Feb), as Art. 12(3) counts "one month"."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


async def target_days(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    settings = await session.get(DsrSettings, workspace_id)
    return settings.target_days if settings else DEFAULT_TARGET_DAYS


async def subject_of_visitor(
    session: AsyncSession, workspace_id: uuid.UUID, visitor_id: uuid.UUID
) -> uuid.UUID:
    """The vault subject of a visitor of the workspace; NotFound otherwise."""
    visitor = await session.get(Visitor, visitor_id)
    if visitor is None or visitor.workspace_id != workspace_id:
        raise NotFound("No such visitor in this workspace.", field="visitor_id")
    return visitor.subject_id


async def find_subject(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID, field: str, value: str
) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """``(subject_id, visitor_id)`` of whoever has ``field`` (email or phone) = ``value`` in the
    workspace, through the vault's blind index; ``(None, None)`` when nobody has it."""
    if field not in ("email", "phone") or not value.strip():
        raise ValidationFailed("Give an e-mail address or a phone number.", field=field)
    subjects = await rt.vault.find_subjects(
        session, workspace_id=workspace_id, field=field, value=value
    )
    if not subjects:
        return None, None
    visitor_id = await session.scalar(
        select(Visitor.id).where(Visitor.subject_id.in_(subjects)).order_by(Visitor.id).limit(1)
    )
    if visitor_id is not None:
        subject = await session.scalar(select(Visitor.subject_id).where(Visitor.id == visitor_id))
        return subject, visitor_id
    return sorted(subjects)[0], None


def check_rights(actor: Principal | None, workspace_id: uuid.UUID) -> None:
    if actor is not None:
        authorize(actor, Action.SUBJECTS_ERASE)
        ensure_same_workspace(actor, workspace_id)


def actor_kind(actor: Principal | Actor | None) -> tuple[str, uuid.UUID | None]:
    if actor is None:
        return "cli", None
    if isinstance(actor, Principal):
        return actor.kind, actor.operator_id
    return actor.kind, actor.id if actor.kind == "operator" else None


def _reason(reason: str | None, *, required: bool) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed(
            "Give the reason; it is recorded and told to the person.", field="reason"
        )
    if len(text) > REASON_MAX_CHARS:
        raise ValidationFailed(
            f"Keep the reason under {REASON_MAX_CHARS} characters.", field="reason"
        )
    return text or None


async def log_event(
    tx: UnitOfWork,
    rt: Runtime,
    actor: Principal | Actor | None,
    case: DsrCase,
    action: str,
    *,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One history row and one audit record (``dsr.<action>``) in the caller's unit."""
    kind, operator_id = actor_kind(actor)
    tx.add(
        DsrCaseEvent(
            case_id=case.id,
            at=utcnow(),
            actor_kind=kind,
            actor_id=operator_id,
            action=action,
            status=case.status,
            reason=reason,
            details=details or {},
        )
    )
    audit_actor = actor if actor is not None else Actor("system", None, case.workspace_id)
    # An erased subject's key is gone: records after the erasure name the case only.
    subject = await tx.get(Subject, case.subject_id) if case.subject_id else None
    await append(
        tx,
        rt,
        audit_actor,
        f"dsr.{action}",
        subject_id=subject.id if subject is not None and subject.erased_at is None else None,
        resource=f"dsr_case:{case.id}",
        details={"kind": case.kind, "status": case.status, **(details or {})},
    )


async def open_case_in(
    tx: UnitOfWork,
    rt: Runtime,
    actor: Principal | Actor | None,
    workspace_id: uuid.UUID,
    *,
    kind: str,
    channel: str,
    subject_id: uuid.UUID | None,
    visitor_id: uuid.UUID | None,
    verified: bool,
    processing: str | None = None,
    contact: str | None = None,
) -> DsrCase:
    """Open a case inside the caller's unit (the portal's and the console's share)."""
    if kind not in KINDS:
        raise ValidationFailed(f"The kind of request is one of {', '.join(KINDS)}.", field="kind")
    if channel not in CHANNELS:
        raise ValidationFailed("Unknown channel of arrival.", field="channel")
    if kind == "objection" and processing not in OBJECTABLE:
        raise ValidationFailed(
            f"Name the processing objected to: {', '.join(OBJECTABLE)}.", field="processing"
        )
    now = utcnow()
    case = DsrCase(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        subject_id=subject_id,
        visitor_id=visitor_id,
        kind=kind,
        channel=channel,
        status="verified" if verified else "received",
        processing=processing if kind == "objection" else None,
        received_at=now,
        verified_at=now if verified else None,
        due_at=add_months(now, LEGAL_MONTHS),
        target_at=now + timedelta(days=await target_days(tx, workspace_id)),
    )
    if contact:
        case.contact_sealed = await rt.keyring.encrypt(
            workspace_id, case.id, contact.strip(), f"dsr_cases:{case.id}:contact"
        )
    tx.add(case)
    await tx.flush()
    await log_event(tx, rt, actor, case, "opened", details={"channel": channel})
    return case


async def do_open_case(
    rt: Runtime,
    actor: Principal | None,
    workspace_id: uuid.UUID,
    *,
    kind: str,
    channel: str,
    email: str | None = None,
    phone: str | None = None,
    visitor_id: uuid.UUID | None = None,
    verified: bool = False,
    processing: str | None = None,
) -> CaseView:
    """An admin (or the command line) records a request that arrived by ``channel``; the
    subject is found by e-mail or phone (blind index) or visitor id. Raises ValidationFailed,
    NotFound (visitor), Forbidden."""
    check_rights(actor, workspace_id)
    async with rt.db.transaction() as tx:
        subject_id: uuid.UUID | None = None
        if visitor_id is not None:
            subject_id = await subject_of_visitor(tx, workspace_id, visitor_id)
        elif email or phone:
            field, value = ("email", email) if email else ("phone", phone)
            subject_id, visitor_id = await find_subject(rt, tx, workspace_id, field, value or "")
        else:
            raise ValidationFailed("Name the person: e-mail, phone or visitor id.", field="email")
        case = await open_case_in(
            tx,
            rt,
            actor,
            workspace_id,
            kind=kind,
            channel=channel,
            subject_id=subject_id,
            visitor_id=visitor_id,
            verified=verified,
            processing=processing,
            contact=email,
        )
        return view(case)


async def load_case(
    session: AsyncSession, actor: Principal | None, case_id: uuid.UUID, *, lock: bool = False
) -> DsrCase:
    case = await session.get(DsrCase, case_id, with_for_update=lock)
    if case is None or (actor is not None and actor.workspace_id != case.workspace_id):
        raise NotFound("No such request in this workspace.", field="case_id")
    check_rights(actor, case.workspace_id)
    return case


def move(case: DsrCase, status: str) -> None:
    """Change the status along :data:`TRANSITIONS`; Conflict otherwise."""
    if status not in TRANSITIONS[case.status]:
        raise Conflict(f"A {case.status} request cannot become {status}.")
    case.status = status
    now = utcnow()
    if status == "verified":
        case.verified_at = now
    if status in ("completed", "rejected"):
        case.completed_at = now


async def do_change_case(
    rt: Runtime,
    actor: Principal | None,
    case_id: uuid.UUID,
    status: str,
    *,
    reason: str | None = None,
) -> CaseView:
    """Move a case to ``status`` (``awaiting_verification``, ``verified``, ``in_progress``,
    ``extended``). ``extended`` needs a reason and moves the legal due date by two months,
    once. Raises Conflict, ValidationFailed, NotFound."""
    if status in ("completed", "rejected"):
        raise Conflict(
            "A request is completed by carrying it out, or rejected with a reason; both issue "
            "the receipt (confide.privacy.requests.acts)."
        )
    async with rt.db.transaction() as tx:
        case = await load_case(tx, actor, case_id, lock=True)
        text = _reason(reason, required=status == "extended")
        if status == "extended":
            if case.extension_reason is not None:
                raise Conflict("The deadline was extended once already (Art. 12(3)).")
            case.extension_reason = text
            case.due_at = add_months(case.received_at, LEGAL_MONTHS + EXTENSION_MONTHS)
        move(case, status)
        await log_event(tx, rt, actor, case, status, reason=text)
        return view(case)


async def do_assign_case(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID, assignee_id: uuid.UUID | None
) -> CaseView:
    """Give the case to an operator of its workspace (or to nobody)."""
    async with rt.db.transaction() as tx:
        case = await load_case(tx, actor, case_id, lock=True)
        if assignee_id is not None:
            operator = await tx.get(Operator, assignee_id)
            if operator is None or operator.workspace_id != case.workspace_id:
                raise NotFound("No such operator in this workspace.", field="assignee_id")
        case.assignee_id = assignee_id
        await log_event(tx, rt, actor, case, "assigned", details={"assignee_id": str(assignee_id)})
        return view(case)


async def do_file_widget_request(
    rt: Runtime, visitor: Principal, kind: str, *, processing: str | None = None
) -> CaseView:
    """A widget visitor files a request about themself: their visitor token identifies them
    (the case is verified for that visitor id); the answer goes to the address they gave, if
    any. The same request still open is answered with that case (no second deadline).
    Raises ValidationFailed, NotFound."""
    if visitor.kind != "visitor" or visitor.visitor_id is None or visitor.workspace_id is None:
        raise NotFound()
    async with rt.db.transaction() as tx:
        subject_id = await subject_of_visitor(tx, visitor.workspace_id, visitor.visitor_id)
        # The same request still open (a double click, a second tab) is that request, not a
        # second case with a deadline of its own.
        pending = await tx.scalar(
            select(DsrCase)
            .where(
                DsrCase.workspace_id == visitor.workspace_id,
                DsrCase.visitor_id == visitor.visitor_id,
                DsrCase.channel == "widget",
                DsrCase.kind == kind,
                DsrCase.processing.is_(None)
                if processing is None
                else DsrCase.processing == processing,
                DsrCase.status.in_(OPEN_STATUSES),
            )
            .order_by(DsrCase.received_at)
            .limit(1)
        )
        if pending is not None:
            return view(pending)
        fields = await rt.vault.read_fields(tx, [subject_id], ["email"])
        case = await open_case_in(
            tx,
            rt,
            visitor,
            visitor.workspace_id,
            kind=kind,
            channel="widget",
            subject_id=subject_id,
            visitor_id=visitor.visitor_id,
            verified=True,
            processing=processing,
            contact=fields.get(subject_id, {}).get("email"),
        )
        return view(case)


async def do_set_request_settings(
    rt: Runtime,
    actor: Principal | None,
    workspace_id: uuid.UUID,
    *,
    target_days: int,
    instant_download: bool,
) -> dict[str, Any]:
    """Set the workspace's own answer target (1-30 days; the legal month stays the limit)
    and whether the portal offers an immediate download of the access export."""
    check_rights(actor, workspace_id)
    if not 1 <= target_days <= 30:
        raise ValidationFailed("The target is 1 to 30 days.", field="target_days")
    async with rt.db.transaction() as tx:
        settings = await tx.get(DsrSettings, workspace_id)
        if settings is None:
            settings = DsrSettings(workspace_id=workspace_id)
            tx.add(settings)
        settings.target_days = target_days
        settings.instant_download = instant_download
        values = {"target_days": target_days, "instant_download": instant_download}
        await append(
            tx, rt, actor, "dsr.settings", resource=f"workspace:{workspace_id}", details=values
        )
        return values
