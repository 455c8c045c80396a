"""Labels of a workspace and of its conversations (``confide.chat.labels``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import Field, StringConstraints

from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.chat import labels

router = APIRouter(tags=["labels"])


class LabelCreate(RequestModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class LabelsSet(RequestModel):
    label_ids: list[uuid.UUID] = Field(max_length=50)


@router.get("/labels")
async def list_labels(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"labels": await labels.list_labels(rt, principal)}


@router.post("/labels", status_code=201)
async def create_label(body: LabelCreate, principal: OperatorDep, rt: RuntimeDep) -> dict[str, str]:
    return await labels.do_create_label(rt, principal, body.name)


@router.delete("/labels/{label_id}", status_code=204)
async def delete_label(label_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep) -> Response:
    await labels.do_delete_label(rt, principal, label_id)
    return Response(status_code=204)


@router.put("/conversations/{conversation_id}/labels")
async def set_labels(
    conversation_id: uuid.UUID, body: LabelsSet, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return {"labels": await labels.do_set_labels(rt, principal, conversation_id, body.label_ids)}
