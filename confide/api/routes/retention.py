"""Retention over the API: the retention page's overview (admins), reports from the
anonymised statistics (admins, managers, analysts; CSV too) and bulk delete by filter
(admins, with a dry run). The actions check rights and write the audit records."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime

import confide.privacy.retention.job  # noqa: F401  (the in-process worker runs its kinds)
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.chat.models import Channel
from confide.chat.reports import read_report, report_csv
from confide.core.clock import utcnow
from confide.core.errors import ValidationFailed
from confide.privacy.retention.bulk import BulkFilter, do_bulk_delete
from confide.privacy.retention.overview import retention_overview

router = APIRouter(tags=["retention"])
MAX_REPORT_DAYS = 3660


class BulkDeleteRequest(RequestModel):
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    channel: Literal["web", "social", "call", "sms", "video"] | None = None
    group_id: uuid.UUID | None = None
    visitor_id: uuid.UUID | None = None
    label_id: uuid.UUID | None = None
    dry_run: bool = False


@router.get("/retention")
async def get_retention(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    """Policy per channel, what happens next and when, the last run's report, overdue."""
    return await retention_overview(rt, principal)


@router.post("/retention/bulk-delete")
async def bulk_delete(
    body: BulkDeleteRequest, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """Destroy the conversations matching the filter (``dry_run``: count them)."""
    assert principal.workspace_id is not None
    where = BulkFilter(
        since=body.since,
        until=body.until,
        channel=Channel(body.channel) if body.channel else None,
        group_id=body.group_id,
        visitor_id=body.visitor_id,
        label_id=body.label_id,
    )
    report = await do_bulk_delete(
        rt, principal, principal.workspace_id, where, dry_run=body.dry_run
    )
    return report.as_dict()


def _span(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or utcnow().date()
    start = start or end - timedelta(days=29)
    if start > end:
        raise ValidationFailed("'start' is after 'end'.", field="start")
    if (end - start).days > MAX_REPORT_DAYS:
        raise ValidationFailed("Ask for at most ten years at a time.", field="start")
    return start, end


@router.get("/reports")
async def get_report(
    principal: OperatorDep,
    rt: RuntimeDep,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> dict[str, Any]:
    """Conversations per day, channel and group, response-time percentiles and CSAT, from
    the anonymised statistics only (default: the last 30 days)."""
    first, last = _span(start, end)
    return await read_report(rt, principal, start=first, end=last)


@router.get("/reports.csv")
async def get_report_csv(
    principal: OperatorDep,
    rt: RuntimeDep,
    start: Annotated[date | None, Query()] = None,
    end: Annotated[date | None, Query()] = None,
) -> Response:
    """The per-day rows of the report as CSV (cells safe against formula injection)."""
    first, last = _span(start, end)
    report = await read_report(rt, principal, start=first, end=last)
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{first}-{last}.csv"'},
    )
