"""The reports page: conversations per day, response-time percentiles and CSAT, from the
anonymised statistics only (``confide.chat.reports``), as server-rendered SVG charts and a
CSV download. Admins see the workspace, managers their groups, analysts pseudonymised."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import operator_views
from confide.access.policy import Action
from confide.api.routes import retention as retention_api
from confide.chat.reports import report_csv
from confide.web.console import forms
from confide.web.console.charts import bar_chart
from confide.web.console.session import page_visit, render, runtime

router = APIRouter(include_in_schema=False)


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _charts(report: dict[str, Any]) -> dict[str, str]:
    per_day: Counter[str] = Counter()
    for row in report["per_day"]:
        per_day[row["day"]] += row["conversations"]
    csat = report["csat"]["distribution"]
    return {
        "per_day": bar_chart(
            "Conversations per day", sorted(per_day.items()), chart_id="chart-per-day"
        ),
        "csat": bar_chart(
            "CSAT scores", [(score, n) for score, n in csat.items()], chart_id="chart-csat"
        ),
    }


@router.get("/console/reports")
async def reports_page(request: Request, start: str = "", end: str = "") -> Response:
    visit = await page_visit(request, Action.REPORTS_READ)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    outcome = await forms.attempt(
        lambda: retention_api.get_report(
            principal=visit.principal, rt=rt, start=_date(start), end=_date(end)
        )
    )
    report = outcome.value if outcome.ok else None
    context = {
        "me": me,
        "nav": "reports",
        "report": report,
        "charts": _charts(report) if report else {},
        "errors": outcome.errors,
        "values": {
            "start": report["start"] if report else start,
            "end": report["end"] if report else end,
        },
    }
    return render(request, "reports.html", context, outcome.status_code, visit)


@router.get("/console/reports.csv")
async def reports_csv(request: Request, start: str = "", end: str = "") -> Response:
    visit = await page_visit(request, Action.REPORTS_READ)
    if isinstance(visit, Response):
        return visit
    report = await retention_api.get_report(
        principal=visit.principal, rt=runtime(request), start=_date(start), end=_date(end)
    )
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="report-{report["start"]}'
            f'-{report["end"]}.csv"'
        },
    )
