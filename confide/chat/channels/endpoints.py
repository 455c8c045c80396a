"""Channel endpoints: their configuration (admin), their signing secrets and the signature
scheme both directions use (described in the package docstring)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.chat.models import Channel, ChannelEndpoint
from confide.core.clock import utcnow
from confide.core.errors import Conflict, InvalidSignature, NotFound
from confide.core.outbound_guard import check_url
from confide.privacy.accountability.subprocessors import check_webhook_transfer

if TYPE_CHECKING:
    from confide.runtime import Runtime

SOCIAL_CHANNELS = frozenset({Channel.SOCIAL, Channel.SMS})
SIGNATURE_HEADER = "X-Confide-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


# -- signatures ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(utcnow().timestamp()) if timestamp is None else timestamp
    return f"t={t},v1={sign(secret, t, body)}"


def verify_signature(secret: str, header: str | None, body: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` under ``secret`` with a
    fresh timestamp. Several ``v1`` values are accepted (any may match)."""
    if not header:
        raise InvalidSignature()
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise InvalidSignature()
    if abs(utcnow().timestamp() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise InvalidSignature(
            "The signature timestamp is more than 5 minutes away from now; sign the request "
            "when you send it."
        )
    expected = sign(secret, timestamp, body)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature()


def derive_signing_secret(rt: Runtime, endpoint: ChannelEndpoint) -> str:
    return rt.secret.keyed_hash("channel-signing", f"{endpoint.id}:{endpoint.signing_secret}")


# -- endpoints (admin) --------------------------------------------------------------------


def parse_social_channel(channel: str) -> Channel:
    try:
        value = Channel(channel)
    except ValueError:
        value = None
    if value not in SOCIAL_CHANNELS:
        raise NotFound("Channels with endpoints are 'social' and 'sms'.", field="channel")
    assert value is not None
    return value


def render_endpoint(endpoint: ChannelEndpoint) -> dict[str, Any]:
    return {
        "id": str(endpoint.id),
        "channel": endpoint.channel.value,
        "outbound_url": endpoint.outbound_url,
        "outbound_country": endpoint.outbound_country,
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat(),
    }


async def find_endpoint(
    session: AsyncSession, workspace_id: uuid.UUID, channel: Channel, *, lock: bool = False
) -> ChannelEndpoint | None:
    query = select(ChannelEndpoint).where(
        ChannelEndpoint.workspace_id == workspace_id, ChannelEndpoint.channel == channel
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def do_configure_endpoint(
    rt: Runtime,
    principal: Principal,
    channel: str,
    *,
    outbound_url: str | None,
    enabled: bool,
    outbound_country: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Create or update the endpoint of a channel. Returns its description and, on creation
    only, the signing secret (never retrievable again).

    Raises :class:`OutboundAddressRefused` (``outbound_url``) when the URL resolves to a
    loopback, private, link-local or metadata address outside ``outbound_allowed_networks``
    (SSRF), and :class:`TransferNotSafeguarded` (``outbound_country``) for a receiver outside
    the EEA that no subprocessor entry covers with a safeguard (GDPR Art. 44-46)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    kind = parse_social_channel(channel)
    if outbound_url:
        await check_url(outbound_url, rt.settings.outbound_allowed_networks, field="outbound_url")
    try:
        async with rt.db.transaction() as session:
            country = (
                await check_webhook_transfer(
                    session, principal.workspace_id, outbound_url, outbound_country
                )
                if outbound_url
                else None
            )
            endpoint = await find_endpoint(session, principal.workspace_id, kind, lock=True)
            created = endpoint is None
            if endpoint is None:
                endpoint = ChannelEndpoint(
                    workspace_id=principal.workspace_id,
                    channel=kind,
                    signing_secret=secrets.token_hex(16),
                )
                session.add(endpoint)
            endpoint.outbound_url = outbound_url
            endpoint.outbound_country = country
            endpoint.enabled = enabled
            await session.flush()
            await append(
                session,
                rt,
                principal,
                "channel.configure",
                resource=f"channel_endpoint:{endpoint.id}",
                details={
                    "channel": kind.value,
                    "enabled": enabled,
                    "created": created,
                    "outbound_country": country,
                },
            )
    except IntegrityError as exc:  # configured at the same moment by another admin
        raise Conflict("This channel was just configured by someone else; reload.") from exc
    return render_endpoint(endpoint), derive_signing_secret(rt, endpoint) if created else None


async def do_rotate_secret(
    rt: Runtime, principal: Principal, channel: str
) -> tuple[dict[str, Any], str]:
    """A new signing secret; the previous one stops working at once, both directions."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    kind = parse_social_channel(channel)
    async with rt.db.transaction() as session:
        endpoint = await find_endpoint(session, principal.workspace_id, kind, lock=True)
        if endpoint is None:
            raise NotFound("This channel is not configured yet.", field="channel")
        endpoint.signing_secret = secrets.token_hex(16)
        await session.flush()
        await append(
            session,
            rt,
            principal,
            "channel.rotate_secret",
            resource=f"channel_endpoint:{endpoint.id}",
            details={"channel": kind.value},
        )
    return render_endpoint(endpoint), derive_signing_secret(rt, endpoint)


async def list_endpoints(rt: Runtime, principal: Principal) -> list[dict[str, Any]]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    async with rt.db.session() as session:
        rows = await session.scalars(
            select(ChannelEndpoint)
            .where(ChannelEndpoint.workspace_id == principal.workspace_id)
            .order_by(ChannelEndpoint.channel)
        )
        return [render_endpoint(e) for e in rows.all()]
