"""The privacy portal's API (``/api/v1/portal/{workspace}/...``), public: ask for a one-time
link, trade it for a portal session, file a request; and the workspace's public key for
checking receipts. The rules (same answer for known and unknown addresses, rate limits,
hashed single-use links) live in ``confide.privacy.requests.portal``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import Field

from confide.access.workspaces import find_workspace_by_slug
from confide.api.deps import RuntimeDep, client_ip_key
from confide.api.schemas import RequestModel
from confide.core.errors import NotFound
from confide.privacy.requests.portal import (
    LINK_TTL_SECONDS,
    do_file_portal_request,
    do_request_portal_link,
    do_verify_portal_link,
)
from confide.privacy.requests.receipts import public_key_b64

router = APIRouter(tags=["privacy portal"])
LINK_SENT = (
    "If this address can receive mail, a link is on its way to it. Open it within "
    f"{LINK_TTL_SECONDS // 60} minutes to continue."
)


class LinkAsk(RequestModel):
    email: str = Field(min_length=3, max_length=320)


class LinkVerify(RequestModel):
    token: str = Field(min_length=10, max_length=200)


class PortalRequest(RequestModel):
    kind: Literal["access", "portability", "rectification", "erasure", "restriction", "objection"]
    processing: Literal["engagement_rules", "enrichment", "surveys"] | None = None


@router.post("/portal/{workspace}/link", status_code=202)
async def ask_for_link(
    workspace: str, body: LinkAsk, request: Request, rt: RuntimeDep
) -> dict[str, str]:
    await do_request_portal_link(
        rt, workspace_slug=workspace, email=body.email, client_key=client_ip_key(request, rt)
    )
    return {"status": "sent", "message": LINK_SENT}


@router.post("/portal/{workspace}/verify")
async def verify_link(workspace: str, body: LinkVerify, rt: RuntimeDep) -> dict[str, str]:
    return {"session": await do_verify_portal_link(rt, workspace, body.token)}


@router.post("/portal/{workspace}/requests", status_code=201)
async def file_request(
    workspace: str,
    body: PortalRequest,
    rt: RuntimeDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    scheme, _, session = (authorization or "").partition(" ")
    # Without a bearer session the action refuses (after checking the workspace exists).
    return await do_file_portal_request(
        rt,
        workspace_slug=workspace,
        session_token=session if scheme.lower() == "bearer" else "",
        kind=body.kind,
        processing=body.processing,
    )


@router.get("/portal/{workspace}/public-key")
async def public_key(workspace: str, rt: RuntimeDep) -> dict[str, str]:
    """The Ed25519 key the workspace signs receipts with (base64 of the raw 32 bytes)."""
    found = await find_workspace_by_slug(rt, workspace)
    if found is None:
        raise NotFound("No such workspace.", field="workspace")
    return {"algorithm": "Ed25519", "public_key": await public_key_b64(rt, found.id)}
