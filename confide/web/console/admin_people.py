"""Settings pages for people and access: operators, groups and API keys.

Every form is validated into the API's request model and handed to the API's own handler, so
the policy (managers handle agents of their groups only), the validation and the audit record
are exactly those of ``/api/v1``. Errors come back next to the field the API named; a refused
form re-renders with what was typed and changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from confide.access import groups, operator_views
from confide.access.policy import Action
from confide.api.routes import operators as operators_api
from confide.api.routes import workspace as workspace_api
from confide.api.schemas import ApiKeyCreate, GroupWrite, OperatorCreate, OperatorUpdate
from confide.chat import availability
from confide.core.errors import NotFound
from confide.web.console import forms
from confide.web.console.session import (
    Visit,
    forbidden,
    page_visit,
    post_visit,
    redirect,
    render,
    runtime,
)

router = APIRouter(include_in_schema=False)
_PROFILE = ("name", "alias", "email", "job_title")


async def settings_page(
    request: Request,
    visit: Visit,
    section: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    """Render ``settings_<section>.html`` inside the settings frame (nav, sections)."""
    rt = runtime(request)
    assert visit.principal.operator_id is not None
    me = (
        await operator_views.get_operator_view(rt, visit.principal, visit.principal.operator_id)
    ).data
    base = {
        "me": me,
        "nav": "settings",
        "section": section,
        "sections": forms.settings_sections(visit),
        "saved": request.query_params.get("saved"),
        "errors": {},
        "values": {},
    }
    template = f"settings_{section.replace('-', '_')}.html"
    return render(request, template, {**base, **context}, status_code, visit)


@router.get("/console/settings")
async def settings_home(request: Request) -> Response:
    visit = await page_visit(request)
    if isinstance(visit, Response):
        return visit
    sections = forms.settings_sections(visit)
    if not sections:
        return forbidden(request, visit, "Your role has no settings to manage.")
    return redirect(f"/console/settings/{sections[0][0]}", visit)


# -- operators ---------------------------------------------------------------------------


async def _operators_page(
    request: Request, visit: Visit, outcome: forms.Outcome[Any] | None = None, values: Any = None
) -> Response:
    rt = runtime(request)
    listed = await operators_api.list_operators(request=request, principal=visit.principal, rt=rt)
    load = await availability.team_load(rt, [uuid.UUID(op["id"]) for op in listed["operators"]])
    context = {
        "operators": listed["operators"],
        "load": {str(k): v for k, v in load.items()},
        "groups": await groups.list_groups(rt, visit.principal),
        "roles": _assignable_roles(visit),
        "errors": outcome.errors if outcome else {},
        "values": values or {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "operators", context, status)


def _assignable_roles(visit: Visit) -> list[str]:
    if Action.WORKSPACE_SETTINGS in visit.allowed:  # admins
        return ["agent", "manager", "analyst", "admin"]
    return ["agent"]


@router.get("/console/settings/operators")
async def operators_page(request: Request) -> Response:
    visit = await page_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(visit, Response):
        return visit
    return await _operators_page(request, visit)


@router.post("/console/settings/operators")
async def create_operator(request: Request) -> Response:
    checked = await post_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    data: dict[str, Any] = {
        "username": forms.text(form, "username").strip(),
        "password": forms.text(form, "password"),
        "role": forms.text(form, "role"),
        "group_ids": forms.many(form, "group_ids"),
        **{name: forms.optional(form, name) for name in _PROFILE},
    }
    outcome = await forms.attempt(
        lambda: operators_api.create_operator(
            body=OperatorCreate.model_validate({k: v for k, v in data.items() if v is not None}),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        data.pop("password")
        return await _operators_page(request, visit, outcome, data)
    return redirect("/console/settings/operators?saved=created", visit)


async def _operator_page(
    request: Request,
    visit: Visit,
    operator_id: uuid.UUID,
    outcome: forms.Outcome[Any] | None = None,
) -> Response:
    rt = runtime(request)
    try:
        target = await operators_api.read_operator(
            operator_id=operator_id, request=request, principal=visit.principal, rt=rt
        )
    except NotFound:
        return forbidden(request, visit, "No such operator, or you may not manage them.")
    visible = await groups.list_groups(rt, visit.principal)
    visible_ids = {g["id"] for g in visible}
    context = {
        "target": target,
        "groups": visible,
        # Memberships of groups this operator cannot see are kept as they are.
        "hidden_group_ids": [g for g in target.get("group_ids", []) if g not in visible_ids],
        "roles": _assignable_roles(visit),
        "errors": outcome.errors if outcome else {},
        "is_self": operator_id == visit.principal.operator_id,
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "operator", context, status)


operator_page_with = _operator_page  # other settings forms about one operator re-render it


@router.get("/console/settings/operators/{operator_id}")
async def operator_page(request: Request, operator_id: uuid.UUID) -> Response:
    visit = await page_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(visit, Response):
        return visit
    return await _operator_page(request, visit, operator_id)


@router.post("/console/settings/operators/{operator_id}")
async def update_operator(request: Request, operator_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    data: dict[str, Any] = {
        "role": forms.optional(form, "role"),
        "group_ids": forms.many(form, "group_ids"),
        **{name: forms.optional(form, name) for name in _PROFILE},
    }
    outcome = await forms.attempt(
        lambda: operators_api.update_operator(
            operator_id=operator_id,
            body=OperatorUpdate.model_validate(data),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _operator_page(request, visit, operator_id, outcome)
    return redirect(f"/console/settings/operators/{operator_id}?saved=updated", visit)


@router.post("/console/settings/operators/{operator_id}/unlock")
async def unlock_operator(request: Request, operator_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: operators_api.unlock_operator(
            operator_id=operator_id, request=request, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _operator_page(request, visit, operator_id, outcome)
    return redirect(f"/console/settings/operators/{operator_id}?saved=unlocked", visit)


@router.post("/console/settings/operators/{operator_id}/remove")
async def remove_operator(request: Request, operator_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.OPERATORS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: operators_api.remove_operator(
            operator_id=operator_id, request=request, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _operator_page(request, visit, operator_id, outcome)
    return redirect("/console/settings/operators?saved=removed", visit)


# -- groups ------------------------------------------------------------------------------


async def _groups_page(
    request: Request, visit: Visit, outcome: forms.Outcome[Any] | None = None, values: Any = None
) -> Response:
    context = {
        "groups": await groups.list_groups(runtime(request), visit.principal),
        "errors": outcome.errors if outcome else {},
        "values": values or {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "groups", context, status)


@router.get("/console/settings/groups")
async def groups_page(request: Request) -> Response:
    visit = await page_visit(request, Action.GROUPS_MANAGE)
    if isinstance(visit, Response):
        return visit
    return await _groups_page(request, visit)


@router.post("/console/settings/groups")
async def create_group(request: Request) -> Response:
    checked = await post_visit(request, Action.GROUPS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    name = forms.text(form, "name")
    outcome = await forms.attempt(
        lambda: workspace_api.create_group(
            body=GroupWrite.model_validate({"name": name}),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _groups_page(request, visit, outcome, {"name": name})
    return redirect("/console/settings/groups?saved=created", visit)


@router.post("/console/settings/groups/{group_id}")
async def rename_group(request: Request, group_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.GROUPS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    name = forms.text(form, "name")
    outcome = await forms.attempt(
        lambda: workspace_api.rename_group(
            group_id=group_id,
            body=GroupWrite.model_validate({"name": name}),
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        outcome.errors = {f"name-{group_id}": message for message in outcome.errors.values()}
        return await _groups_page(request, visit, outcome)
    return redirect("/console/settings/groups?saved=renamed", visit)


@router.post("/console/settings/groups/{group_id}/delete")
async def delete_group(request: Request, group_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.GROUPS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: workspace_api.delete_group(
            group_id=group_id, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _groups_page(request, visit, outcome)
    return redirect("/console/settings/groups?saved=deleted", visit)


# -- API keys ----------------------------------------------------------------------------


async def _keys_page(
    request: Request,
    visit: Visit,
    outcome: forms.Outcome[Any] | None = None,
    created: dict[str, Any] | None = None,
) -> Response:
    listed = await workspace_api.list_api_keys(principal=visit.principal, rt=runtime(request))
    context = {
        "keys": listed["api_keys"],
        "created": created,  # shown once: the secret is never retrievable again
        "errors": outcome.errors if outcome else {},
    }
    status = outcome.status_code if outcome else 200
    return await settings_page(request, visit, "api-keys", context, status)


@router.get("/console/settings/api-keys")
async def keys_page(request: Request) -> Response:
    visit = await page_visit(request, Action.API_KEYS_MANAGE)
    if isinstance(visit, Response):
        return visit
    return await _keys_page(request, visit)


@router.post("/console/settings/api-keys")
async def create_key(request: Request) -> Response:
    checked = await post_visit(request, Action.API_KEYS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, form = checked
    name = forms.text(form, "name")
    outcome = await forms.attempt(
        lambda: workspace_api.create_api_key(
            body=ApiKeyCreate.model_validate({"name": name}),
            request=request,
            principal=visit.principal,
            rt=runtime(request),
        )
    )
    if not outcome.ok:
        return await _keys_page(request, visit, outcome)
    response = await _keys_page(request, visit, created=outcome.value)
    response.headers["cache-control"] = "no-store"  # the page holds a secret
    return response


@router.post("/console/settings/api-keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: uuid.UUID) -> Response:
    checked = await post_visit(request, Action.API_KEYS_MANAGE)
    if isinstance(checked, Response):
        return checked
    visit, _ = checked
    outcome = await forms.attempt(
        lambda: workspace_api.revoke_api_key(
            key_id=key_id, request=request, principal=visit.principal, rt=runtime(request)
        )
    )
    if not outcome.ok:
        return await _keys_page(request, visit, outcome)
    return redirect("/console/settings/api-keys?saved=revoked", visit)
