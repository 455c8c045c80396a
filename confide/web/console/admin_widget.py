"""The widget settings page: appearance, pre-chat form, CSAT, allowed origins and the snippet.

One form, one call of the API's handler (``PATCH /api/v1/workspace/widget``), like the other
settings pages. Engagement rules are lists of conditions edited through the API; the page shows
how many are set and leaves them unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import widget_settings as widget_api
from confide.api.schemas import WidgetSettingsUpdate
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
_TEXTS = ("title", "greeting", "launcher_label", "accent_color", "position")
_SWITCHES = ("prechat_enabled", "prechat_ask_name", "prechat_ask_email", "csat_enabled")


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    typed: dict[str, Any] | None = None,
) -> Response:
    current = await widget_api.read_widget_settings(
        request=request, principal=visit.principal, rt=runtime(request)
    )
    context = {
        "values": {**current, **(typed or {})},
        "snippet": current["snippet"],
        "errors": outcome.errors if outcome else {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "widget", context, status)


@router.get("/console/settings/widget")
async def widget_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post("/console/settings/widget")
async def save_widget(request: Request) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    changes: dict[str, Any] = {name: forms.text(form, name) for name in _TEXTS}
    changes.update({name: forms.checked(form, name) for name in _SWITCHES})
    changes["allowed_origins"] = forms.lines(form, "allowed_origins")
    outcome = await forms.attempt(
        lambda: widget_api.update_widget_settings(
            body=WidgetSettingsUpdate.model_validate(changes),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome, changes)
    return redirect("/console/settings/widget?saved=1", visit)
