"""Whose data an actor read or exported in a time window, from the audit ledger.

Why: after a breach through a stolen session or a leaked API key, the controller must tell the
people affected (GDPR Art. 34) and needs to know who they are. Every read of personal data is
recorded inside its own unit of work with the subjects it returned (``confide.privacy.access``
and ``confide.audit.ledger``), so the ledger already knows: events of the actor in the window
that name a subject (``audit_events.subject_id``, indexed) or several (``audit_event_subjects``).

The listing itself names people, so asking is audited (``breach.exposure_read``) and allowed to
admins only (``Action.AUDIT_READ``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.audit.models import AuditEvent, AuditEventSubject
from confide.core.errors import ValidationFailed
from confide.privacy.models import Subject

if TYPE_CHECKING:
    from confide.runtime import Runtime

MAX_SUBJECTS = 10_000


async def do_list_exposed_subjects(
    rt: Runtime,
    principal: Principal,
    *,
    actor_id: uuid.UUID,
    since: datetime,
    until: datetime,
    breach_id: uuid.UUID | None = None,
) -> list[dict[str, Any]]:
    """The subjects whose data ``actor_id`` (an operator or an API key) read, exported or
    changed in the principal's workspace between ``since`` and ``until`` (inclusive), with the
    kind of subject, the actions and when. At most :data:`MAX_SUBJECTS`. Audited."""
    policy.authorize(principal, Action.AUDIT_READ)
    if until < since:
        raise ValidationFailed("The window ends before it starts.", field="until")
    window = (
        AuditEvent.workspace_id == principal.workspace_id,
        AuditEvent.actor_id == actor_id,
        AuditEvent.at >= since,
        AuditEvent.at <= until,
    )
    found: dict[uuid.UUID, dict[str, Any]] = {}
    async with rt.db.transaction() as tx:
        single = await tx.execute(
            select(AuditEvent.subject_id, AuditEvent.action, AuditEvent.at).where(
                *window, AuditEvent.subject_id.is_not(None)
            )
        )
        # pk_audit_event_subjects joined by event id: the subjects of list reads.
        several = await tx.execute(
            select(AuditEventSubject.subject_id, AuditEvent.action, AuditEvent.at)
            .join(AuditEvent, AuditEvent.id == AuditEventSubject.event_id)
            .where(*window)
        )
        for subject_id, action, at in [*single.all(), *several.all()]:
            if subject_id is None:
                continue
            entry = found.setdefault(
                subject_id,
                {"subject_id": str(subject_id), "actions": set(), "first_at": at, "last_at": at},
            )
            entry["actions"].add(action)
            entry["first_at"] = min(entry["first_at"], at)
            entry["last_at"] = max(entry["last_at"], at)
        ids = sorted(found)[:MAX_SUBJECTS]
        kinds = (
            dict(
                (
                    await tx.execute(select(Subject.id, Subject.kind).where(Subject.id.in_(ids)))
                ).all()
            )
            if ids
            else {}
        )
        await append(
            tx,
            rt,
            principal,
            "breach.exposure_read",
            resource=f"breach:{breach_id}" if breach_id else "audit:exposure",
            details={
                "actor_id": str(actor_id),
                "since": since.isoformat(),
                "until": until.isoformat(),
                "subjects": len(ids),
            },
        )
    return [
        {
            "subject_id": found[s]["subject_id"],
            "kind": kinds.get(s, "erased"),
            "actions": sorted(found[s]["actions"]),
            "first_at": found[s]["first_at"].isoformat(),
            "last_at": found[s]["last_at"].isoformat(),
        }
        for s in ids
    ]
