"""The widget's settings (admins) and the public configuration the widget loads on the host site."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from confide.access import policy, workspaces
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep, client_ip_key
from confide.api.schemas import WidgetSettingsUpdate
from confide.chat import widget_settings
from confide.core.errors import TooManyRequests, ValidationFailed
from confide.runtime import Runtime

router = APIRouter(tags=["widget"])
# The config is loaded on every page view of the host site: a generous per-address budget.
CONFIG_REQUESTS_PER_IP_PER_MINUTE = 120
CONFIG_MAX_AGE_SECONDS = 60


def _base_url(request: Request, rt: Runtime) -> str:
    return rt.settings.public_url or str(request.base_url)


async def _render(request: Request, rt: Runtime, workspace_id: uuid.UUID | None) -> dict[str, Any]:
    assert workspace_id is not None
    workspace = await workspaces.get_workspace(rt, workspace_id)
    return {
        **await widget_settings.read(rt, workspace_id),
        "snippet": widget_settings.snippet(_base_url(request, rt), workspace.slug),
    }


@router.get("/workspace/widget")
async def read_widget_settings(
    request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The widget's appearance, behaviour and allowed origins, with the snippet to embed it."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    return await _render(request, rt, principal.workspace_id)


@router.patch("/workspace/widget")
async def update_widget_settings(
    body: WidgetSettingsUpdate, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    await widget_settings.do_update_widget_settings(rt, principal, principal.workspace_id, changes)
    return await _render(request, rt, principal.workspace_id)


@router.get("/widget/{workspace}/config")
async def widget_config(
    workspace: str,
    request: Request,
    response: Response,
    rt: RuntimeDep,
    lang: str | None = None,
) -> dict[str, Any]:
    """What the widget shows before the visitor says anything, in the language closest to
    ``lang``; no credentials needed."""
    wait = await rt.limiter.hit(
        f"widget-config:{client_ip_key(request, rt)}", CONFIG_REQUESTS_PER_IP_PER_MINUTE, 60
    )
    if wait:
        raise TooManyRequests(
            "Too many requests from this network; try again later.",
            headers={"Retry-After": str(wait)},
        )
    if lang is not None and len(lang) > 35:
        raise ValidationFailed("lang is a language tag like 'de' or 'fr-CA'.", field="lang")
    config = await widget_settings.public_config(rt, workspace, lang)
    response.headers["Cache-Control"] = f"public, max-age={CONFIG_MAX_AGE_SECONDS}"
    return config
