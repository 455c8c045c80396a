"""Purpose-bound visitor attributes: declare (admins), set and read (see
``confide.chat.attributes``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import StringConstraints

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.chat import attributes

router = APIRouter(tags=["visitors"])


class AttributeDefine(RequestModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    retention_days: int


class AttributeSet(RequestModel):
    value: Annotated[str, StringConstraints(min_length=1, max_length=500)]


@router.get("/visitor-attributes")
async def list_definitions(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_READ)
    assert principal.workspace_id is not None
    return {"attributes": await attributes.list_definitions(rt, principal.workspace_id)}


@router.post("/visitor-attributes", status_code=201)
async def define(body: AttributeDefine, principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return await attributes.do_define_attribute(
        rt, principal, name=body.name, purpose=body.purpose, retention_days=body.retention_days
    )


@router.put("/visitors/{visitor_id}/attributes/{name}")
async def set_value(
    visitor_id: uuid.UUID, name: str, body: AttributeSet, principal: PrincipalDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await attributes.do_set_attribute(rt, principal, visitor_id, name, body.value)


@router.get("/visitors/{visitor_id}/attributes")
async def read_values(
    visitor_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return {"attributes": await attributes.read_attributes(rt, principal, visitor_id)}
