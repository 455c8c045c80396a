"""Outbound replies: a delivery row written with the operator's message, then signed POSTs
to the endpoint's URL with retries (see the package docstring for the lease)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from confide import __version__
from confide.access import policy
from confide.access.policy import Action, Principal
from confide.chat.channels.endpoints import (
    SIGNATURE_HEADER,
    SOCIAL_CHANNELS,
    derive_signing_secret,
    find_endpoint,
    signature_header,
)
from confide.chat.models import (
    AuthorKind,
    ChannelDelivery,
    ChannelEndpoint,
    Conversation,
    DeliveryStatus,
    Message,
)
from confide.core.clock import utcnow
from confide.core.errors import OutboundRefused
from confide.core.outbound_guard import GuardedTransport

if TYPE_CHECKING:
    from confide.runtime import Runtime

log = logging.getLogger("confide.channels")

# Tests shorten the backoff.
MAX_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS: tuple[float, ...] = (2.0, 10.0)
OUTBOUND_TIMEOUT_SECONDS = 10.0
# While an attempt is in flight its row is leased for this long (crash: retried afterwards).
ATTEMPT_LEASE_SECONDS = OUTBOUND_TIMEOUT_SECONDS + 20.0
DELIVERY_LIST_LIMIT = 100
# The URL's host resolved to a loopback/private/metadata address (core.outbound_guard): SSRF.
ADDRESS_REFUSED = "address_refused"

_tasks: set[asyncio.Task[None]] = set()


async def queue_outbound(
    rt: Runtime, session: AsyncSession, conversation: Conversation, message: Message
) -> uuid.UUID | None:
    """Inside the transaction that stored ``message``: record a delivery if it is a reply to a
    social/SMS thread. Returns the delivery to start after commit, or ``None``."""
    if conversation.channel not in SOCIAL_CHANNELS or message.author_kind is AuthorKind.VISITOR:
        return None
    now = utcnow()
    delivery = ChannelDelivery(
        workspace_id=conversation.workspace_id,
        message_id=message.id,
        channel=conversation.channel,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    endpoint = await find_endpoint(session, conversation.workspace_id, conversation.channel)
    problem = _undeliverable(endpoint, conversation)
    if problem is not None:
        # Recorded as failed at once, so an admin sees that the visitor never got the reply.
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = problem
        delivery.next_attempt_at = None
    session.add(delivery)
    await session.flush()
    return delivery.id if delivery.status is DeliveryStatus.PENDING else None


def _undeliverable(endpoint: ChannelEndpoint | None, conversation: Conversation) -> str | None:
    if conversation.external_thread_sealed is None:
        return "no_thread"
    if endpoint is None or not endpoint.enabled:
        return "endpoint_disabled"
    if not endpoint.outbound_url:
        return "no_outbound_url"
    return None


def start_delivery(rt: Runtime, delivery_id: uuid.UUID) -> None:
    """Deliver in the background (after the commit that recorded it)."""
    task = asyncio.get_running_loop().create_task(
        _deliver_with_retries(rt, delivery_id), name=f"confide-delivery-{delivery_id}"
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def drain(grace_seconds: float | None = None) -> None:
    """Wait for this event loop's background deliveries; cancel those still running after
    ``grace_seconds`` (their rows stay pending and :func:`deliver_due` retries them)."""
    loop = asyncio.get_running_loop()
    mine = [t for t in _tasks if t.get_loop() is loop]
    if not mine:
        return
    _done, pending = await asyncio.wait(mine, timeout=grace_seconds)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


async def _deliver_with_retries(rt: Runtime, delivery_id: uuid.UUID) -> None:
    try:
        while True:
            outcome = await attempt_delivery(rt, delivery_id)
            if outcome is None or outcome.status is not DeliveryStatus.PENDING:
                return
            assert outcome.next_attempt_at is not None
            delay = (outcome.next_attempt_at - utcnow()).total_seconds()
            await asyncio.sleep(max(0.0, delay) + 0.005)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        # The row stays pending (or leased): deliver_due picks it up later.
        log.error("delivery %s: attempt aborted (%s)", delivery_id, type(exc).__name__)


@dataclass(frozen=True)
class DeliveryOutcome:
    status: DeliveryStatus
    next_attempt_at: datetime | None


async def attempt_delivery(rt: Runtime, delivery_id: uuid.UUID) -> DeliveryOutcome | None:
    """One attempt, if the delivery is pending and due. Returns its state afterwards, or
    ``None`` if another process holds the attempt (or it does not exist)."""
    async with rt.db.transaction() as session:
        delivery = await session.get(ChannelDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return None
        if delivery.status is not DeliveryStatus.PENDING:
            return DeliveryOutcome(delivery.status, None)
        now = utcnow()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None  # leased by an attempt in flight, or not due yet
        request = await _prepare(rt, session, delivery)
        if request is None:
            return DeliveryOutcome(delivery.status, None)
        delivery.attempts += 1
        attempt = delivery.attempts
        delivery.next_attempt_at = now + timedelta(seconds=ATTEMPT_LEASE_SECONDS)
    url, secret, payload = request
    status_code, error = await _post(
        url, secret, payload, delivery_id, attempt, rt.settings.outbound_allowed_networks
    )
    async with rt.db.transaction() as session:
        delivery = await session.get(ChannelDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            return None
        if delivery.status is not DeliveryStatus.PENDING or delivery.attempts != attempt:
            return DeliveryOutcome(delivery.status, delivery.next_attempt_at)
        delivery.last_status_code = status_code
        delivery.last_error = error
        if error is None:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.next_attempt_at = None
        elif error == ADDRESS_REFUSED or not _retryable(status_code) or attempt >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            backoff = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS)) - 1]
            delivery.next_attempt_at = utcnow() + timedelta(seconds=backoff)
        log.info(
            "delivery %s: attempt %d -> %s (%s)",
            delivery_id,
            attempt,
            delivery.status.value,
            status_code if status_code is not None else error,
        )
        return DeliveryOutcome(delivery.status, delivery.next_attempt_at)


def _retryable(status_code: int | None) -> bool:
    """Network errors, timeouts, rate limits and server errors may pass on a retry; other
    answers (redirects, 4xx) are a configuration problem that retrying will not fix."""
    return status_code is None or status_code in (408, 425, 429) or status_code >= 500


async def _prepare(
    rt: Runtime, session: AsyncSession, delivery: ChannelDelivery
) -> tuple[str, str, dict[str, Any]] | None:
    """URL, secret and payload of a delivery; marks it failed (and returns ``None``) if it can
    no longer be sent: endpoint removed or disabled, thread handed over, text erased."""
    message = await session.get(Message, delivery.message_id)
    conversation = (
        await session.get(Conversation, message.conversation_id) if message is not None else None
    )
    endpoint = await find_endpoint(session, delivery.workspace_id, delivery.channel)
    texts = await rt.vault.read_message_texts(session, [delivery.message_id])
    problem: str | None
    if message is None or conversation is None or delivery.message_id not in texts:
        problem = "message_erased"
    else:
        problem = _undeliverable(endpoint, conversation)
    if problem is not None:
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = problem
        delivery.next_attempt_at = None
        return None
    assert message is not None and conversation is not None and endpoint is not None
    assert endpoint.outbound_url is not None and conversation.external_thread_sealed is not None
    thread_id = await rt.vault.open_thread(
        conversation.workspace_id, conversation.id, conversation.external_thread_sealed
    )
    if thread_id is None:  # the conversation's key was destroyed (erasure)
        delivery.status = DeliveryStatus.FAILED
        delivery.last_error = "thread_erased"
        delivery.next_attempt_at = None
        return None
    payload = {
        "thread_id": thread_id,
        "message_id": str(message.id),
        "text": texts[message.id],
        "seq": message.seq,
    }
    return endpoint.outbound_url, derive_signing_secret(rt, endpoint), payload


async def _post(
    url: str,
    secret: str,
    payload: dict[str, Any],
    delivery_id: uuid.UUID,
    attempt: int,
    allowed_networks: list[str],
) -> tuple[int | None, str | None]:
    """POST the signed payload. Returns (status code, error code or ``None`` if delivered).
    The host is resolved and checked for this very request (SSRF, ``core.outbound_guard``)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"Confide/{__version__}",
        SIGNATURE_HEADER: signature_header(secret, body),
        "X-Confide-Delivery": str(delivery_id),
        "X-Confide-Attempt": str(attempt),
    }
    try:
        # trust_env=False: no proxy from the environment; no redirects: the URL is the one the
        # admin configured, nothing else; the transport connects to checked addresses only.
        async with httpx.AsyncClient(
            timeout=OUTBOUND_TIMEOUT_SECONDS,
            trust_env=False,
            follow_redirects=False,
            transport=GuardedTransport(allowed_networks),
        ) as client:
            response = await client.post(url, content=body, headers=headers)
    except OutboundRefused:
        return None, ADDRESS_REFUSED
    except httpx.HTTPError as exc:
        return None, type(exc).__name__[:64]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"http_{response.status_code}"


async def deliver_due(rt: Runtime, limit: int = 50) -> int:
    """One attempt for each pending delivery that is due (e.g. left behind by a restart).
    Returns how many attempts were made. Safe to run on several nodes at once."""
    async with rt.db.session() as session:
        # ix_channel_deliveries_due
        due = (
            await session.scalars(
                select(ChannelDelivery.id)
                .where(
                    ChannelDelivery.status == DeliveryStatus.PENDING,
                    ChannelDelivery.next_attempt_at <= utcnow(),
                )
                .order_by(ChannelDelivery.next_attempt_at)
                .limit(limit)
            )
        ).all()
    made = 0
    for delivery_id in due:
        if await attempt_delivery(rt, delivery_id) is not None:
            made += 1
    return made


async def list_deliveries(
    rt: Runtime, principal: Principal, *, status: DeliveryStatus | None, limit: int = 50
) -> list[dict[str, Any]]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    limit = max(1, min(limit, DELIVERY_LIST_LIMIT))
    # ix_channel_deliveries_listing
    query = (
        select(ChannelDelivery, Message.conversation_id, Message.seq)
        .join(Message, Message.id == ChannelDelivery.message_id)
        .where(ChannelDelivery.workspace_id == principal.workspace_id)
    )
    if status is not None:
        query = query.where(ChannelDelivery.status == status)
    query = query.order_by(ChannelDelivery.created_at.desc(), ChannelDelivery.id).limit(limit)
    async with rt.db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        {
            "id": str(delivery.id),
            "channel": delivery.channel.value,
            "conversation_id": str(conversation_id),
            "message_id": str(delivery.message_id),
            "seq": seq,
            "status": delivery.status.value,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": delivery.last_error,
            "next_attempt_at": _iso(delivery.next_attempt_at),
            "created_at": _iso(delivery.created_at),
        }
        for delivery, conversation_id, seq in rows
    ]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
