"""Social/SMS channel endpoints (admin), their signed inbound webhook, and recorded
call/SMS/video conversations (the host's backend, by API key)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from confide.api.deps import OperatorDep, PrincipalDep, RuntimeDep
from confide.api.schemas_channels import (
    ChannelEndpointWrite,
    InboundMessage,
    RecordedConversation,
    SocialChannel,
)
from confide.chat import channels
from confide.chat.channels import inbound, recorded
from confide.chat.channels.recorded import TranscriptLine
from confide.chat.models import AuthorKind, DeliveryStatus

router = APIRouter(tags=["channels"])


@router.get("/channels")
async def list_channels(principal: OperatorDep, rt: RuntimeDep) -> dict[str, Any]:
    return {"channels": await channels.list_endpoints(rt, principal)}


@router.get("/channels/deliveries")
async def list_deliveries(
    principal: OperatorDep,
    rt: RuntimeDep,
    status: Literal["pending", "delivered", "failed"] | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Outbound replies and how their delivery went (``?status=failed``: what never arrived)."""
    return {
        "deliveries": await channels.list_deliveries(
            rt, principal, status=DeliveryStatus(status) if status else None, limit=limit
        )
    }


@router.put("/channels/{channel}")
async def configure_channel(
    channel: SocialChannel,
    body: ChannelEndpointWrite,
    principal: OperatorDep,
    rt: RuntimeDep,
    response: Response,
) -> dict[str, Any]:
    """Create or update the endpoint; on creation the answer carries ``signing_secret``, shown
    this once."""
    described, secret = await channels.do_configure_endpoint(
        rt,
        principal,
        channel,
        outbound_url=body.outbound_url,
        enabled=body.enabled,
        outbound_country=body.outbound_country,
    )
    if secret is None:
        return described
    response.status_code = 201
    return {**described, "signing_secret": secret}


@router.post("/channels/{channel}/rotate-secret")
async def rotate_channel_secret(
    channel: SocialChannel, principal: OperatorDep, rt: RuntimeDep
) -> dict[str, Any]:
    described, secret = await channels.do_rotate_secret(rt, principal, channel)
    return {**described, "signing_secret": secret}


@router.post("/hooks/{workspace_slug}/{channel}")
async def inbound_webhook(
    workspace_slug: str, channel: str, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    """A message from the social/SMS provider's bridge, signed with the channel's secret."""
    endpoint = await inbound.find_inbound_endpoint(rt, workspace_slug, channel)
    raw = await request.body()
    inbound.verify_inbound(rt, endpoint, request.headers.get(channels.SIGNATURE_HEADER), raw)
    try:
        message = InboundMessage.model_validate_json(raw)
    except ValidationError as exc:
        # Reported like any request body: 422 naming the field (or 400 for broken JSON).
        raise RequestValidationError(exc.errors(include_input=False)) from None
    result = await inbound.do_receive_inbound(
        rt,
        endpoint,
        thread_id=message.thread_id,
        message_id=message.message_id,
        text=message.text,
        sender=message.sender.model_dump(),
    )
    return {
        "conversation_id": str(result.conversation_id),
        "message_id": str(result.message_id),
        "seq": result.seq,
        "duplicate": result.duplicate,
    }


@router.post("/conversations/recorded")
async def record_conversation(
    body: RecordedConversation, principal: PrincipalDep, rt: RuntimeDep, response: Response
) -> dict[str, Any]:
    """The host's backend records a call, SMS exchange or video session it handled."""
    metadata = {
        "started_at": body.metadata.started_at,
        "duration_seconds": body.metadata.duration_seconds,
        "direction": body.metadata.direction,
    }
    transcript = (
        [TranscriptLine(AuthorKind(t.author), t.text, t.client_id) for t in body.transcript]
        if body.transcript is not None
        else None
    )
    described, duplicate = await recorded.do_record_conversation(
        rt,
        principal,
        channel=body.channel,
        vuid=body.vuid,
        identity=body.visitor.model_dump(exclude_unset=True) if body.visitor else None,
        group_id=body.group_id,
        external_thread=body.external_thread,
        metadata=metadata,
        extras=dict(body.metadata.model_extra or {}),
        transcript=transcript,
        keep_open=body.status == "open",
    )
    response.status_code = 200 if duplicate else 201
    return {**described, "duplicate": duplicate}
