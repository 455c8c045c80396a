"""The caller's workspace: its profile and security settings, groups, and API keys."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from confide.access import api_keys, groups, policy, workspaces
from confide.access.models import Workspace
from confide.access.policy import Action
from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep
from confide.api.schemas import ApiKeyCreate, GroupWrite, WorkspaceUpdate
from confide.privacy import settings as privacy_settings

router = APIRouter(tags=["workspace"])


def _render(
    workspace: Workspace, *, with_settings: bool, privacy: dict[str, Any] | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(workspace.id),
        "slug": workspace.slug,
        "name": workspace.name,
    }
    if with_settings:
        data["settings"] = {
            "mfa_required_for_admins": workspace.mfa_required_for_admins,
            **(privacy or {}),
        }
    return data


@router.get("/workspace")
async def read_workspace(principal: PrincipalDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_READ)
    assert principal.workspace_id is not None
    workspace = await workspaces.get_workspace(rt, principal.workspace_id)
    with_settings = Action.WORKSPACE_SETTINGS in policy.allowed_actions(principal)
    privacy = await privacy_settings.read(rt, workspace.id) if with_settings else None
    return _render(workspace, with_settings=with_settings, privacy=privacy)


@router.patch("/workspace")
async def update_workspace(
    body: WorkspaceUpdate, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    workspace = await workspaces.do_update_workspace_settings(
        rt,
        principal,
        principal.workspace_id,
        name=body.name,
        mfa_required_for_admins=body.mfa_required_for_admins,
        privacy=body.model_dump(exclude_unset=True, include=set(privacy_settings.SETTING_NAMES)),
    )
    privacy = await privacy_settings.read(rt, workspace.id)
    return _render(workspace, with_settings=True, privacy=privacy)


@router.get("/groups")
async def list_groups(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"groups": await groups.list_groups(rt, principal)}


@router.post("/groups", status_code=201)
async def create_group(body: GroupWrite, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.GROUPS_MANAGE)
    assert principal.workspace_id is not None
    group = await groups.do_create_group(rt, principal, principal.workspace_id, body.name)
    return {"id": str(group.id), "name": group.name, "member_count": 0}


@router.patch("/groups/{group_id}")
async def rename_group(
    group_id: uuid.UUID, body: GroupWrite, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    group = await groups.do_rename_group(rt, principal, group_id, body.name)
    return {"id": str(group.id), "name": group.name}


@router.delete("/groups/{group_id}", status_code=204)
async def delete_group(group_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep) -> Response:
    await groups.do_delete_group(rt, principal, group_id)
    return Response(status_code=204)


@router.get("/api-keys")
async def list_api_keys(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"api_keys": await api_keys.list_api_keys(rt, principal)}


@router.post("/api-keys", status_code=201)
async def create_api_key(
    body: ApiKeyCreate, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.API_KEYS_MANAGE)
    assert principal.workspace_id is not None
    described, secret = await api_keys.do_create_api_key(
        rt, principal, principal.workspace_id, body.name
    )
    return {**described, "key": secret}


@router.delete("/api-keys/{key_id}", status_code=204)
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await api_keys.do_revoke_api_key(rt, principal, key_id)
    return Response(status_code=204)
