"""Settings → Channels: the social/SMS endpoints (webhook address, reply URL, signing secret
rotation), through the API's own handlers. A new or rotated secret is shown once, on a page
that is not cached."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access.policy import Action
from confide.api.routes import channels as channels_api
from confide.api.schemas_channels import ChannelEndpointWrite
from confide.web.console import forms
from confide.web.console.admin_people import settings_page
from confide.web.console.session import Visit, page_visit, post_visit, redirect, runtime

router = APIRouter(include_in_schema=False)
PATH = "/console/settings/channels"
CHANNELS = (("social", "Social messaging"), ("sms", "SMS"))


async def _page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    secret: dict[str, Any] | None = None,
) -> Response:
    rt = runtime(request)
    listed = await channels_api.list_channels(principal=visit.principal, rt=rt)
    configured = {c["channel"]: c for c in listed["channels"]}
    assert visit.principal.workspace_id is not None
    from confide.access.workspaces import get_workspace

    slug = (await get_workspace(rt, visit.principal.workspace_id)).slug
    base = rt.settings.base_url.rstrip("/")
    context = {
        "channels": [
            {
                "channel": name,
                "title": title,
                "endpoint": configured.get(name),
                "webhook": f"{base}/api/v1/hooks/{slug}/{name}",
            }
            for name, title in CHANNELS
        ],
        "secret": secret,
        "errors": outcome.errors if outcome else {},
    }
    response = await settings_page(
        request, visit, "channels", context, outcome.status_code if outcome else 200
    )
    if secret:
        response.headers["cache-control"] = "no-store"  # the page holds a secret
    return response


@router.get(PATH)
async def channels_page(request: Request) -> Response:
    visit = await page_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(visit, Response):
        return visit
    return await _page(request, visit)


@router.post(PATH + "/{channel}")
async def configure_channel(request: Request, channel: str) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    if channel not in dict(CHANNELS):
        return redirect(PATH, visit)
    values = {
        "outbound_url": forms.optional(form, "outbound_url"),
        "enabled": forms.checked(form, "enabled"),
    }
    outcome = await forms.attempt(
        lambda: channels_api.configure_channel(
            channel=channel,  # type: ignore[arg-type]
            body=ChannelEndpointWrite.model_validate(values),
            principal=visit.principal,
            rt=runtime(request),
            response=Response(),
        )
    )
    if not outcome.ok:
        outcome.errors = {f"{k}-{channel}" if k else k: v for k, v in outcome.errors.items()}
        return await _page(request, visit, outcome)
    assert outcome.value is not None
    if "signing_secret" in outcome.value:
        return await _page(request, visit, secret=outcome.value)
    return redirect(f"{PATH}?saved=1", visit)


@router.post(PATH + "/{channel}/rotate")
async def rotate_secret(request: Request, channel: str) -> Response:
    checked = await post_visit(request, Action.WORKSPACE_SETTINGS)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    if channel not in dict(CHANNELS):
        return redirect(PATH, visit)
    outcome = await forms.attempt(
        lambda: channels_api.rotate_channel_secret(
            channel=channel,  # type: ignore[arg-type]
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _page(request, visit, outcome)
    return await _page(request, visit, secret=outcome.value)
