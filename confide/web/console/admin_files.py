"""Settings → Files and attributes: a workspace's attachment limits and its declared visitor
attributes (admins), through the API's own handlers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import attachments as attachments_api
from confide.api.routes import attributes as attributes_api
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/settings/files"
MEGABYTE = 1024 * 1024


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    rt = runtime(request)
    limits = await attachments_api.read_settings(principal=visit.principal, rt=rt)
    declared = await attributes_api.list_definitions(principal=visit.principal, rt=rt)
    context = {
        "limits": limits,
        "max_megabytes": max(1, limits["max_bytes"] // MEGABYTE),
        "ceiling_megabytes": max(1, rt.settings.attachment_max_bytes // MEGABYTE),
        "attributes": declared["attributes"],
        "errors": outcome.errors if outcome else {},
        "values": values or {},
    }
    return await settings_page(
        request, visit, "files", context, outcome.status_code if outcome else 200
    )


@router.get(PATH)
async def files_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH)
async def save_limits(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    megabytes = forms.text(form, "max_megabytes").strip()
    outcome = await forms.attempt(
        lambda: attachments_api.update_settings(
            body=attachments_api.AttachmentSettingsUpdate.model_validate(
                {
                    "enabled": forms.checked(form, "enabled"),
                    "max_bytes": int(megabytes) * MEGABYTE if megabytes.isdigit() else 0,
                    "allowed_types": forms.many(form, "allowed_types"),
                }
            ),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=limits", visit)


@router.post(PATH + "/attributes")
async def declare_attribute(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values = {
        "name": forms.text(form, "name").strip(),
        "purpose": forms.text(form, "purpose").strip(),
        "retention_days": forms.text(form, "retention_days").strip(),
    }
    outcome = await forms.attempt(
        lambda: attributes_api.define(
            body=attributes_api.AttributeDefine.model_validate(values),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, values)
    return redirect(f"{PATH}?saved=attribute", visit)
