"""The console's Requests page (admins): data-subject requests by urgency, overdue ones flagged,
and one request with its full history. Reads go through the same queries as the API and the
CLI (``confide.privacy.requests.queries``)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import operator_views
from confide.access.policy import Action
from confide.core.errors import NotFound
from confide.privacy.requests.queries import case_history, list_cases
from confide.web.console.session import page_visit, render, runtime

router = APIRouter(include_in_schema=False)


@router.get("/console/requests")
async def requests_page(request: Request) -> Response:
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    assert visit.principal.operator_id is not None and visit.principal.workspace_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    cases = await list_cases(rt, visit.principal, visit.principal.workspace_id)
    context = {
        "me": me,
        "nav": "requests",
        "cases": cases,
        "overdue": sum(1 for c in cases if c.overdue),
    }
    return render(request, "requests.html", context, 200, visit)


@router.get("/console/requests/{case_id}")
async def request_page(request: Request, case_id: str) -> Response:
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    try:
        case, history = await case_history(rt, visit.principal, uuid.UUID(case_id))
    except (ValueError, NotFound):
        return render(
            request,
            "requests.html",
            {"me": me, "nav": "requests", "cases": [], "overdue": 0, "missing": True},
            404,
            visit,
        )
    context = {"me": me, "nav": "requests", "case": case, "history": history}
    return render(request, "request_case.html", context, 200, visit)
