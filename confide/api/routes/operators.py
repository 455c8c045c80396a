"""Operators of the caller's workspace, filtered and shaped by the policy module."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from confide.access import operator_views, operators
from confide.access.models import Role
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import OperatorCreate, OperatorUpdate
from confide.chat import conversations
from confide.core.errors import NotFound

router = APIRouter(prefix="/operators", tags=["operators"])
_PROFILE = ("name", "alias", "email", "job_title", "avatar_url")


@router.get("")
async def list_operators(
    request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    views = await operator_views.list_operator_views(rt, principal)
    return {"operators": [v.data for v in views]}


@router.post("", status_code=201)
async def create_operator(
    body: OperatorCreate, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    operator_id = await operators.do_create_operator(
        rt,
        principal,
        workspace_id=principal.workspace_id,
        username=body.username.lower(),
        password=body.password,
        role=Role(body.role),
        profile=body.model_dump(include=set(_PROFILE), exclude_none=True),
        group_ids=body.group_ids,
    )
    return (await operator_views.get_operator_view(rt, principal, operator_id)).data


@router.get("/{operator_id}")
async def read_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return (await operator_views.get_operator_view(rt, principal, operator_id)).data


@router.patch("/{operator_id}")
async def update_operator(
    operator_id: uuid.UUID,
    body: OperatorUpdate,
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    await operators.do_update_operator(
        rt,
        principal,
        operator_id,
        profile={k: changes[k] for k in _PROFILE if k in changes},
        role=Role(body.role) if body.role is not None else None,
        group_ids=body.group_ids,
    )
    try:
        return (await operator_views.get_operator_view(rt, principal, operator_id)).data
    except NotFound:
        # Applied, but the change took the operator out of the caller's sight (a manager
        # removing an agent from their last shared group): report the outcome only.
        return {"id": str(operator_id), "updated": True, "visible": False}


@router.delete("/{operator_id}", status_code=204)
async def remove_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await operators.do_remove_operator(rt, principal, operator_id)
    await conversations.do_requeue_conversations_of(rt, operator_id)
    return Response(status_code=204)


@router.post("/{operator_id}/unlock", status_code=204)
async def unlock_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await operators.do_unlock_operator(rt, principal, operator_id)
    return Response(status_code=204)
