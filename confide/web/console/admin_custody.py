"""Settings → Access and Settings → Legal holds (admins): support grants, archive custodians
and their openings with every read under them, and legal holds, through the API's handlers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import custody
from confide.access.policy import Action
from confide.api.routes import custody as custody_api
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
ACCESS = "/console/settings/access"
HOLDS = "/console/settings/legal-holds"


async def _access_page(
    request: Request, visit: Visit, outcome: forms.Outcome[Any] | None = None, values: Any = None
) -> Response:
    rt = runtime(request)
    listed = await custody_api.list_grants(principal=visit.principal, rt=rt)
    context = {
        "grants": listed["grants"],
        "operators": await custody.custodian_candidates(rt, visit.principal),
        "errors": outcome.errors if outcome else {},
        "values": values or {"hours": "4"},
    }
    return await settings_page(
        request, visit, "access", context, outcome.status_code if outcome else 200
    )


@router.get(ACCESS)
async def access_page(request: Request) -> Response:
    visit = await page_visit(request, Action.AUDIT_READ)
    if isinstance(visit, Response):
        return visit
    return await _access_page(request, visit)


def _model(model: type[Any], data: dict[str, Any]) -> Any:
    return model.model_validate(data)


@router.post(ACCESS)
async def grant_support(request: Request) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values = {
        "support_username": forms.text(form, "support_username").strip(),
        "scope": forms.text(form, "scope"),
        "hours": forms.text(form, "hours").strip(),
        "reason": forms.text(form, "reason"),
        "conversation_id": forms.optional(form, "conversation_id"),
    }

    async def call() -> Any:
        body = _model(custody_api.SupportGrantCreate, values)
        return await custody_api.grant_support(
            body=body, principal=visit.principal, rt=runtime(request)
        )

    outcome = await forms.attempt(call)
    if not outcome.ok:
        return await _access_page(request, visit, outcome, values)
    return redirect(f"{ACCESS}?saved=granted", visit)


@router.post(ACCESS + "/{grant_id}/revoke")
async def revoke_grant(request: Request, grant_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: custody_api.revoke_grant(
            grant_id=grant_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _access_page(request, visit, outcome)
    return redirect(f"{ACCESS}?saved=revoked", visit)


@router.post(ACCESS + "/custodians/{operator_id}")
async def set_custodian(request: Request, operator_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.AUDIT_READ)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    appointed = forms.text(form, "archive_custodian") == "1"
    outcome = await forms.attempt(
        lambda: custody_api.set_custodian(
            operator_id=operator_id,
            body=custody_api.CustodianUpdate(archive_custodian=appointed),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _access_page(request, visit, outcome)
    return redirect(f"{ACCESS}?saved=custodian", visit)


async def _holds_page(
    request: Request, visit: Visit, outcome: forms.Outcome[Any] | None = None, values: Any = None
) -> Response:
    listed = await custody_api.list_holds(principal=visit.principal, rt=runtime(request))
    context = {
        "holds": listed["holds"],
        "errors": outcome.errors if outcome else {},
        "values": values or {"target": "conversation"},
    }
    return await settings_page(
        request, visit, "legal-holds", context, outcome.status_code if outcome else 200
    )


@router.get(HOLDS)
async def holds_page(request: Request) -> Response:
    visit = await page_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(visit, Response):
        return visit
    return await _holds_page(request, visit)


@router.post(HOLDS)
async def place_hold(request: Request) -> Response:
    checked = await post_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values: dict[str, Any] = {
        "target": forms.text(form, "target"),
        "reason": forms.text(form, "reason"),
        "conversation_id": forms.optional(form, "conversation_id"),
        "visitor_id": forms.optional(form, "visitor_id"),
    }
    spec = {
        key: forms.optional(form, key)
        for key in ("channel", "created_from", "created_to")
        if forms.optional(form, key)
    }
    body = {**values, "filter": spec if values["target"] == "filter" else None}

    async def call() -> Any:
        return await custody_api.place_hold(
            body=_model(custody_api.LegalHoldCreate, body),
            principal=visit.principal,
            rt=runtime(request),
        )

    outcome = await forms.attempt(call)
    if not outcome.ok:
        return await _holds_page(request, visit, outcome, {**values, **spec})
    return redirect(f"{HOLDS}?saved=placed", visit)


@router.post(HOLDS + "/{hold_id}/lift")
async def lift_hold(request: Request, hold_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.SUBJECTS_ERASE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    reason = forms.text(form, "reason")
    outcome = await forms.attempt(
        lambda: custody_api.lift_hold(
            hold_id=hold_id,
            body=_model(custody_api.HoldLift, {"reason": reason}),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _holds_page(request, visit, outcome)
    return redirect(f"{HOLDS}?saved=lifted", visit)
