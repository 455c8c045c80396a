"""How a case is shown (console, API, CLI, digest): no personal data, overdue flags computed
against the clock."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case

from confide.core.clock import utcnow
from confide.privacy.requests.models import DsrCase

OPEN = ("received", "awaiting_verification", "verified", "in_progress", "extended")


@dataclass(frozen=True)
class CaseView:
    """A case as the console, the API and the CLI show it (no personal data)."""

    id: uuid.UUID
    kind: str
    channel: str
    status: str
    subject_known: bool
    visitor_id: uuid.UUID | None
    processing: str | None
    received_at: datetime
    verified_at: datetime | None
    due_at: datetime
    target_at: datetime
    completed_at: datetime | None
    assignee_id: uuid.UUID | None
    extension_reason: str | None
    rejection_reason: str | None
    overdue: bool
    target_missed: bool
    has_export: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            k: (
                str(v)
                if isinstance(v, uuid.UUID)
                else v.isoformat()
                if isinstance(v, datetime)
                else v
            )
            for k, v in self.__dict__.items()
        }


def view(case: DsrCase, now: datetime | None = None) -> CaseView:
    now = now or utcnow()
    open_ = case.status in OPEN
    return CaseView(
        id=case.id,
        kind=case.kind,
        channel=case.channel,
        status=case.status,
        subject_known=case.subject_id is not None,
        visitor_id=case.visitor_id,
        processing=case.processing,
        received_at=case.received_at,
        verified_at=case.verified_at,
        due_at=case.due_at,
        target_at=case.target_at,
        completed_at=case.completed_at,
        assignee_id=case.assignee_id,
        extension_reason=case.extension_reason,
        rejection_reason=case.rejection_reason,
        overdue=open_ and now > case.due_at,
        target_missed=open_ and now > case.target_at,
        has_export=case.export_key is not None and case.subject_id is not None,
    )


def urgency_order() -> Any:
    """Open cases first, then by the earlier of the legal due date and nothing else: the
    legal deadline is what must not pass (ix_dsr_cases_open)."""
    return (sql_case((DsrCase.completed_at.is_(None), 0), else_=1), DsrCase.due_at)
