"""Settings → Accountability: the controller's details, the subprocessor list and the record
of processing (Art. 30) with its exports; through the API's own handlers, so validation,
policy and audit are the API's."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import records as records_api
from confide.api.schemas_accountability import ControllerProfileWrite, SubprocessorWrite
from confide.privacy.accountability.processing_record import build_record
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/settings/accountability"
PROFILE_FIELDS = (
    "controller_name",
    "controller_contact",
    "representative",
    "dpo_contact",
    "authority_name",
    "authority_email",
)
SUBPROCESSOR_FIELDS = ("name", "service", "country", "host", "safeguard", "safeguard_date")


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    rt = runtime(request)
    profile = await records_api.read_controller_profile(principal=visit.principal, rt=rt)
    listed = await records_api.list_subprocessors(principal=visit.principal, rt=rt)
    context = {
        "profile": {**profile, **(values or {})},
        "subprocessors": listed["subprocessors"],
        "record": await build_record(rt, visit.principal),
        "errors": outcome.errors if outcome else {},
        "values": values or {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "accountability", context, status)


@router.get(PATH)
async def accountability_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH + "/controller")
async def save_controller(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values = {name: forms.optional(form, name) for name in PROFILE_FIELDS}
    body = {**values, "controller_name": values["controller_name"] or ""}
    body["controller_contact"] = values["controller_contact"] or ""
    outcome = await forms.attempt(
        lambda: records_api.update_controller_profile(
            body=ControllerProfileWrite.model_validate(body),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, values)
    return redirect(f"{PATH}?saved=1", visit)


@router.post(PATH + "/subprocessors")
async def add_subprocessor(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values = {name: forms.optional(form, name) for name in SUBPROCESSOR_FIELDS}
    body = {**values, "name": values["name"] or "", "service": values["service"] or ""}
    body["country"] = values["country"] or ""
    outcome = await forms.attempt(
        lambda: records_api.add_subprocessor(
            body=SubprocessorWrite.model_validate(body),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        outcome.errors = {f"sub-{k}" if k else k: v for k, v in outcome.errors.items()}
        return await _page(request, visit, outcome, {f"sub_{k}": v for k, v in values.items()})
    return redirect(f"{PATH}?saved=1#subprocessors-title", visit)


@router.post(PATH + "/subprocessors/{subprocessor_id}/remove")
async def remove_subprocessor(request: Request, subprocessor_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: records_api.remove_subprocessor(
            subprocessor_id=subprocessor_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=1", visit)
