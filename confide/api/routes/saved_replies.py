"""Saved replies (``confide.chat.saved_replies``): list, create, delete."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import StringConstraints

from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.chat import saved_replies

router = APIRouter(tags=["saved replies"])


class SavedReplyCreate(RequestModel):
    shortcut: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=33)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    scope: Literal["personal", "workspace"] = "personal"


@router.get("/saved-replies")
async def list_saved_replies(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"saved_replies": await saved_replies.list_saved_replies(rt, principal)}


@router.post("/saved-replies", status_code=201)
async def create_saved_reply(
    body: SavedReplyCreate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await saved_replies.do_create_saved_reply(
        rt,
        principal,
        shortcut=body.shortcut,
        body=body.body,
        workspace_wide=body.scope == "workspace",
    )


@router.delete("/saved-replies/{reply_id}", status_code=204)
async def delete_saved_reply(
    reply_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> Response:
    await saved_replies.do_delete_saved_reply(rt, principal, reply_id)
    return Response(status_code=204)
