"""Opening hours of a group (admins): what the widget's away notice is based on."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import GroupHoursWrite
from confide.chat import hours

router = APIRouter(tags=["groups"])


@router.get("/groups/{group_id}/hours")
async def read_group_hours(
    group_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """The group's hours, or ``{"hours": null}`` when it is always open."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    return {"hours": await hours.read_group_hours(rt, principal.workspace_id, group_id)}


@router.put("/groups/{group_id}/hours")
async def write_group_hours(
    group_id: uuid.UUID,
    body: GroupHoursWrite,
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
) -> dict[str, Any]:
    """Replace the group's time zone, weekly hours, holidays and promised reply time."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    stored = await hours.do_set_group_hours(
        rt, principal, principal.workspace_id, group_id, body.model_dump()
    )
    return {"hours": stored}


@router.delete("/groups/{group_id}/hours")
async def clear_group_hours(
    group_id: uuid.UUID, request: Request, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    """Remove the group's hours: it is always open again."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    await hours.do_set_group_hours(rt, principal, principal.workspace_id, group_id, None)
    return {"hours": None}
