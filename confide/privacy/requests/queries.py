"""Reading cases: a workspace's list by urgency, and one case with its full history."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from confide.access.policy import Principal
from confide.core.clock import utcnow
from confide.privacy.requests.cases import check_rights, load_case
from confide.privacy.requests.models import DsrCase, DsrCaseEvent
from confide.privacy.requests.views import CaseView, urgency_order, view

if TYPE_CHECKING:
    from confide.runtime import Runtime


async def list_cases(
    rt: Runtime,
    actor: Principal | None,
    workspace_id: uuid.UUID,
    *,
    open_only: bool = False,
    limit: int = 200,
) -> list[CaseView]:
    """A workspace's cases by urgency (open ones by due date, overdue flagged)."""
    check_rights(actor, workspace_id)
    query = select(DsrCase).where(DsrCase.workspace_id == workspace_id)
    if open_only:
        query = query.where(DsrCase.completed_at.is_(None))
    async with rt.db.session() as session:
        rows = (await session.scalars(query.order_by(*urgency_order()).limit(limit))).all()
    now = utcnow()
    return [view(row, now) for row in rows]


async def case_history(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID
) -> tuple[CaseView, list[dict[str, Any]]]:
    """One case and its full history, oldest first."""
    async with rt.db.session() as session:
        case = await load_case(session, actor, case_id)
        events = (
            await session.scalars(
                select(DsrCaseEvent)
                .where(DsrCaseEvent.case_id == case_id)
                .order_by(DsrCaseEvent.at, DsrCaseEvent.id)
            )
        ).all()
    history = [
        {
            "at": e.at.isoformat(),
            "actor_kind": e.actor_kind,
            "actor_id": str(e.actor_id) if e.actor_id else None,
            "action": e.action,
            "status": e.status,
            "reason": e.reason,
            "details": e.details,
        }
        for e in events
    ]
    return view(case), history


async def case_receipt(
    rt: Runtime, actor: Principal | None, case_id: uuid.UUID
) -> dict[str, Any] | None:
    """The signed receipt of a completed case, or None while it is open."""
    async with rt.db.session() as session:
        case = await load_case(session, actor, case_id)
    return case.receipt


async def case_ids_starting_with(rt: Runtime, prefix: str) -> list[uuid.UUID]:
    """The ids of every case (any workspace) whose hex form starts with ``prefix`` (lowercase
    hex, no dashes), so an operator can name a case by the first characters of its id."""
    async with rt.db.session() as session:
        ids = (await session.scalars(select(DsrCase.id))).all()
    return [case_id for case_id in ids if case_id.hex.startswith(prefix)]
