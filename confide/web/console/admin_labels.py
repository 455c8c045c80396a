"""Settings → Labels: the workspace's labels (admins), through the API's own handlers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import labels as labels_api
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/settings/labels"


async def _page(
    request: Request, visit: Visit, outcome: forms.Outcome[Any] | None = None, name: str = ""
) -> Response:
    listed = await labels_api.list_labels(principal=visit.principal, rt=runtime(request))
    context = {
        "labels": listed["labels"],
        "errors": outcome.errors if outcome else {},
        "values": {"name": name},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "labels", context, status)


@router.get(PATH)
async def labels_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH)
async def create_label(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    name = forms.text(form, "name")
    outcome = await forms.attempt(
        lambda: labels_api.create_label(
            body=labels_api.LabelCreate.model_validate({"name": name}),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, name)
    return redirect(f"{PATH}?saved=created", visit)


@router.post(PATH + "/{label_id}/delete")
async def delete_label(request: Request, label_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: labels_api.delete_label(
            label_id=label_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=deleted", visit)
