"""The console's Requests page (admins): data-subject requests by urgency, overdue ones flagged,
and one request with its full history and the next steps (verify, start, extend with a reason,
carry out, refuse with a reason). A completed access or portability request offers its
export (a fresh short-lived signed link per click; each download recorded) and its signed
receipt, or says that no personal data is held any more. Reads go through the same queries as
the API and the CLI (``confide.privacy.requests.queries``, ``answers``); steps through the
API's own handlers, so validation, policy and audit are the API's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from confide.access import operator_views
from confide.access.policy import Action
from confide.api.routes import dsr as dsr_api
from confide.core.errors import NotFound
from confide.privacy.requests.answers import case_download_link, requester_mailed
from confide.privacy.requests.queries import case_history, case_receipt, list_cases
from confide.web.console import forms
from confide.web.console.session import Visit, page_visit, post_visit, redirect, render, runtime

router = APIRouter(include_in_schema=False)


@router.get("/console/requests")
async def requests_page(request: Request) -> Response:
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    return await _list_page(request, visit)


async def _list_page(
    request: Request,
    visit: Visit,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
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
        "kinds": KINDS,
        "channels": RECEIVED_BY,
        "errors": errors or {},
        "values": values or {},
    }
    return render(request, "requests.html", context, status_code, visit)


KINDS = ("access", "portability", "rectification", "erasure", "restriction", "objection")
RECEIVED_BY = (
    ("email", "E-mail"),
    ("letter", "Letter"),
    ("phone", "Phone"),
    ("console", "In person"),
)


@router.post("/console/requests")
async def record_request(request: Request) -> Response:
    """Record a request that arrived by e-mail, letter or phone (GDPR Art. 12: any channel
    counts), through the API's own handler; the one-month clock starts now."""
    checked = await post_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values: dict[str, Any] = {
        "kind": forms.text(form, "kind"),
        "channel": forms.text(form, "channel"),
        "email": forms.optional(form, "email"),
        "phone": forms.optional(form, "phone"),
        "visitor_id": forms.optional(form, "visitor_id"),
        "verified": forms.checked(form, "verified"),
    }
    outcome = await forms.attempt(
        lambda: dsr_api.open_case(
            body=dsr_api.CaseOpen.model_validate(values),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok or outcome.value is None:
        return await _list_page(request, visit, outcome.errors, values, outcome.status_code)
    return redirect(f"/console/requests/{outcome.value['id']}?done=recorded", visit)


NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "received": ("verified", "rejected"),
    "awaiting_verification": ("verified", "rejected"),
    "verified": ("in_progress", "extended", "carry_out", "rejected"),
    "in_progress": ("extended", "carry_out", "rejected"),
    "extended": ("carry_out", "rejected"),
}


async def _case_page(
    request: Request,
    visit: Visit,
    case_id: str,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    try:
        case, history = await case_history(rt, visit.principal, uuid.UUID(case_id))
    except (ValueError, NotFound):
        context = {
            "me": me,
            "nav": "requests",
            "cases": [],
            "overdue": 0,
            "missing": True,
            "kinds": KINDS,
            "channels": RECEIVED_BY,
            "errors": {},
            "values": {},
        }
        return render(request, "requests.html", context, 404, visit)
    steps = () if case.kind == "rectification" else NEXT_STEPS.get(case.status, ())
    context = {
        "me": me,
        "nav": "requests",
        "case": case,
        "history": history,
        "steps": steps,
        "errors": errors or {},
        "done": request.query_params.get("done"),
        "answer": _answer(case.kind, case.status, case.has_export),
        "requester_mailed": requester_mailed(history),
        "receipt": (await case_receipt(rt, visit.principal, case.id) or {}).get("receipt"),
    }
    return render(request, "request_case.html", context, status_code, visit)


def _answer(kind: str, status: str, has_export: bool) -> str | None:
    if kind not in ("access", "portability") or status != "completed":
        return None
    return "export" if has_export else "nothing_held"


@router.get("/console/requests/{case_id}/export")
async def request_export(request: Request, case_id: uuid.UUID) -> Response:
    """A fresh signed link to the case's export, followed at once (the download is recorded
    by the exports route); the case page with the reason when there is none."""
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    issued_by = f"operator:{visit.principal.operator_id}"
    try:
        link = await case_download_link(
            runtime(request), visit.principal, case_id, issued_by=issued_by
        )
    except NotFound as exc:
        return await _case_page(request, visit, str(case_id), {"": exc.message}, 404)
    return redirect(link["url"], visit)


@router.get("/console/requests/{case_id}/receipt")
async def request_receipt(request: Request, case_id: uuid.UUID) -> Response:
    """The case's signed receipt as a JSON file (``confide dsr verify-receipt`` checks it)."""
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    try:
        document = await case_receipt(runtime(request), visit.principal, case_id)
    except NotFound:
        document = None
    if document is None:
        errors = {"": "This request has no receipt yet: it is still open."}
        return await _case_page(request, visit, str(case_id), errors, 404)
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="receipt-{case_id}.json"'},
    )


@router.get("/console/requests/{case_id}")
async def request_page(request: Request, case_id: str) -> Response:
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    return await _case_page(request, visit, case_id)


@router.post("/console/requests/{case_id}")
async def request_step(request: Request, case_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    rt, step, reason = runtime(request), forms.text(form, "step"), forms.optional(form, "reason")
    outcome: forms.Outcome[Any]
    if step == "carry_out" and not forms.checked(form, "confirm_erasure"):
        # Irreversible: an erasure case is carried out only with the box ticked.
        try:
            case, _ = await case_history(rt, visit.principal, case_id)
        except NotFound:
            return await _case_page(request, visit, str(case_id))
        if case.kind == "erasure":
            errors = {
                "confirm_erasure": "Tick the box to confirm: erasure deletes this person's data "
                "and destroys their keys, and cannot be undone."
            }
            return await _case_page(request, visit, str(case_id), errors, 422)
    if step == "carry_out":
        outcome = await forms.attempt(
            lambda: dsr_api.carry_out_case(
                case_id=case_id, body=dsr_api.CaseCarryOut(), principal=visit.principal, rt=rt
            )
        )
    elif step == "rejected":
        outcome = await forms.attempt(
            lambda: dsr_api.reject_case(
                case_id=case_id,
                body=dsr_api.CaseReject.model_validate({"reason": reason or ""}),
                principal=visit.principal,
                rt=rt,
            )
        )
    else:
        outcome = await forms.attempt(
            lambda: dsr_api.change_case(
                case_id=case_id,
                body=dsr_api.CaseStatus.model_validate({"status": step, "reason": reason}),
                principal=visit.principal,
                rt=rt,
            )
        )
    if not outcome.ok:
        return await _case_page(request, visit, str(case_id), outcome.errors, outcome.status_code)
    return redirect(f"/console/requests/{case_id}?done={step}", visit)
