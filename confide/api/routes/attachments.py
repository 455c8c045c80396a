"""Attachments: upload (raw body, streamed), listing with signed links, the signed download,
and a workspace's limits (see ``confide.chat.attachments``).

The upload's body is the file itself (not multipart: a multipart parser spools large parts to
a temporary file in clear); its name travels percent-encoded in the ``X-Confide-Filename``
header, never in the URL (which proxies and access logs keep).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from confide.access import policy
from confide.access.policy import Action
from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep, VisitorDep
from confide.api.schemas import RequestModel
from confide.chat import attachment_links, attachment_settings, attachments
from confide.chat.attachment_settings import load_settings, render_settings
from confide.core.errors import UnsupportedFileType

router = APIRouter(tags=["attachments"])
widget_router = APIRouter(prefix="/widget", tags=["widget"])
UPLOAD_PATHS = re.compile(r"^/api/v1/(widget/)?conversations/[0-9a-fA-F-]{32,36}/attachments$")
FILENAME_HEADER = "x-confide-filename"
FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
ClientIdParam = Annotated[str | None, Query(max_length=64)]


def _name(request: Request) -> str | None:
    """The file's name from its header; a form upload is refused (415) before any byte is
    read, since its body is a form, not the file, and would be stored as one."""
    declared = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if declared in FORM_TYPES:
        raise UnsupportedFileType(
            "Send the file itself as the request body (not a form), with its name in the "
            "X-Confide-Filename header.",
            field="content-type",
        )
    raw = request.headers.get(FILENAME_HEADER)
    return unquote(raw[:1000]) if raw else None


class AttachmentSettingsUpdate(RequestModel):
    enabled: bool = True
    max_bytes: int
    allowed_types: list[str]


@router.post("/conversations/{conversation_id}/attachments", status_code=201)
async def upload(
    conversation_id: uuid.UUID,
    request: Request,
    principal: OperatorDep,
    rt: RuntimeDep,
    client_id: ClientIdParam = None,
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return await attachments.do_upload_attachment(
        rt,
        principal,
        conversation_id,
        name=_name(request),
        chunks=request.stream(),
        client_id=client_id,
    )


@router.get("/conversations/{conversation_id}/attachments")
async def list_attachments(
    conversation_id: uuid.UUID, principal: PrincipalDep, rt: RuntimeDep
) -> dict[str, Any]:
    policy.authorize(principal, Action.CONVERSATIONS_WORK)
    return {"attachments": await attachments.list_attachments(rt, principal, conversation_id)}


@widget_router.post("/conversations/{conversation_id}/attachments", status_code=201)
async def widget_upload(
    conversation_id: uuid.UUID,
    request: Request,
    principal: VisitorDep,
    rt: RuntimeDep,
    client_id: ClientIdParam = None,
) -> dict[str, Any]:
    return await attachments.do_upload_attachment(
        rt,
        principal,
        conversation_id,
        name=_name(request),
        chunks=request.stream(),
        client_id=client_id,
    )


@widget_router.get("/conversations/{conversation_id}/attachments")
async def widget_list(
    conversation_id: uuid.UUID, principal: VisitorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return {"attachments": await attachments.list_attachments(rt, principal, conversation_id)}


@router.get("/attachments/{attachment_id}/{variant}")
async def download(
    attachment_id: uuid.UUID,
    variant: str,
    rt: RuntimeDep,
    expires: Annotated[int, Query()] = 0,
    sig: Annotated[str, Query(max_length=128)] = "",
    by: Annotated[str, Query(max_length=64)] = "",
) -> StreamingResponse:
    """A signed link's bytes (no credentials: the link was handed out after the policy
    check and the audit record, signed for its reader ``by``; opening it is recorded)."""
    found = await attachment_links.open_download(rt, attachment_id, variant, expires, sig, by)
    return StreamingResponse(found.body, media_type=found.media_type, headers=found.headers)


@router.get("/workspace/attachment-settings")
async def read_settings(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    policy.authorize(principal, Action.WORKSPACE_READ)
    assert principal.workspace_id is not None
    async with rt.db.session() as session:
        row = await load_settings(session, principal.workspace_id)
    return render_settings(row, rt.settings.attachment_max_bytes)


@router.put("/workspace/attachment-settings")
async def update_settings(
    body: AttachmentSettingsUpdate, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    return await attachment_settings.do_update_attachment_settings(
        rt,
        principal,
        enabled=body.enabled,
        max_bytes=body.max_bytes,
        allowed_types=body.allowed_types,
    )
