"""Internal notes of a conversation (operators only; see ``confide.chat.notes``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import StringConstraints

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, RuntimeDep
from confide.api.schemas import RequestModel
from confide.chat import notes

router = APIRouter(tags=["conversations"])


class NoteCreate(RequestModel):
    body: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


@router.get("/conversations/{conversation_id}/notes")
async def list_notes(
    conversation_id: uuid.UUID, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return {"notes": await notes.list_notes(rt, principal, conversation_id)}


@router.post("/conversations/{conversation_id}/notes", status_code=201)
async def add_note(
    conversation_id: uuid.UUID, body: NoteCreate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return await notes.do_add_note(rt, principal, conversation_id, body.body)
