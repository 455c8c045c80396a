"""Operators of the caller's workspace, filtered and shaped by the policy module."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from confide import audit
from confide.access import operators
from confide.access.models import Role
from confide.access.policy import Principal
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import OperatorCreate, OperatorUpdate
from confide.chat import conversations
from confide.core.errors import NotFound
from confide.runtime import Runtime

router = APIRouter(prefix="/operators", tags=["operators"])
_PROFILE = ("name", "alias", "email", "job_title", "avatar_url")


@router.get("")
async def list_operators(
    request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    views = await operators.list_operator_views(rt, principal)
    await audit.record(
        rt,
        principal,
        "operator.list",
        resource="operators",
        request=request,
        details={"count": len(views)},
    )
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
    details = {"username": body.username.lower(), "role": body.role}
    await _record(rt, principal, "operator.create", operator_id, request, details)
    return (await operators.get_operator_view(rt, principal, operator_id)).data


@router.get("/{operator_id}")
async def read_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    view = await operators.get_operator_view(rt, principal, operator_id)
    if operator_id != principal.operator_id and "email" in view.data:  # the full profile
        await _record(rt, principal, "operator.read", operator_id, request)
    return view.data


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
    details = {"changed": sorted(changes), **({"role": body.role} if body.role else {})}
    await _record(rt, principal, "operator.update", operator_id, request, details)
    try:
        return (await operators.get_operator_view(rt, principal, operator_id)).data
    except NotFound:
        # Applied, but the change took the operator out of the caller's sight (a manager
        # removing an agent from their last shared group): report the outcome only.
        return {"id": str(operator_id), "updated": True, "visible": False}


@router.delete("/{operator_id}", status_code=204)
async def remove_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await operators.do_remove_operator(rt, principal, operator_id)
    await _record(rt, principal, "operator.remove", operator_id, request)
    await conversations.do_requeue_conversations_of(rt, operator_id)
    return Response(status_code=204)


@router.post("/{operator_id}/unlock", status_code=204)
async def unlock_operator(
    operator_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await operators.do_unlock_operator(rt, principal, operator_id)
    await _record(rt, principal, "operator.unlock", operator_id, request)
    return Response(status_code=204)


async def _record(
    rt: Runtime,
    principal: Principal,
    action: str,
    operator_id: uuid.UUID,
    request: Request,
    details: dict[str, Any] | None = None,
) -> None:
    """An audit event about an operator, naming them as its subject."""
    subject_id = await audit.subjects.of_operator(rt, operator_id)
    resource = f"operator:{operator_id}"
    await audit.record(
        rt,
        principal,
        action,
        subject_id=subject_id,
        resource=resource,
        details=details,
        request=request,
    )
