"""The saved replies page: the operator's own replies and the workspace's (admins edit those).

Forms call the API's own handlers (``/api/v1/saved-replies``), like the settings pages.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import operator_views
from confide.access.policy import Action
from confide.api.routes import saved_replies as replies_api
from confide.web.console import forms
from confide.web.console.session import Visit, page_visit, post_visit, redirect, render, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/replies"


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    listed = await replies_api.list_saved_replies(principal=visit.principal, rt=rt)
    context = {
        "me": me,
        "nav": "replies",
        "replies": listed["saved_replies"],
        "can_manage_workspace": Action.WORKSPACE_SETTINGS in visit.allowed,
        "errors": outcome.errors if outcome else {},
        "values": values or {},
        "saved": request.query_params.get("saved"),
    }
    return render(request, "replies.html", context, outcome.status_code if outcome else 200, visit)


@router.get(PATH)
async def replies_page(request: Request) -> Response:
    visit = await page_visit(request, Action.CONVERSATIONS_WORK)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH)
async def create_reply(request: Request) -> Response:
    checked = await post_visit(request, Action.CONVERSATIONS_WORK)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    values = {
        "shortcut": forms.text(form, "shortcut"),
        "body": forms.text(form, "body"),
        "scope": forms.text(form, "scope") or "personal",
    }
    outcome = await forms.attempt(
        lambda: replies_api.create_saved_reply(
            body=replies_api.SavedReplyCreate.model_validate(values),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, values)
    return redirect(f"{PATH}?saved=created", visit)


@router.post(PATH + "/{reply_id}/delete")
async def delete_reply(request: Request, reply_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.CONVERSATIONS_WORK)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: replies_api.delete_saved_reply(
            reply_id=reply_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return redirect(f"{PATH}?saved=deleted", visit)
