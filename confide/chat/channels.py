"""Social/SMS channels (signed inbound webhook, signed outbound replies) and recorded
call/SMS/video conversations.

Signatures, both directions: ``X-Confide-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256 of ``"<t>." + raw body`` under the endpoint's signing secret (its UTF-8 bytes). A
request whose timestamp is more than :data:`SIGNATURE_TOLERANCE_SECONDS` away from now is
refused, so a captured request cannot be replayed later; within that window a replay carries
the same provider message id and is stored once. Comparison is constant-time.

The signing secret is never stored: the endpoint row holds a random nonce and the secret is
derived from it under the instance secret, so a copy of the database alone cannot forge a
webhook. It is shown once, on creation and on rotation.

Inbound messages go through the message path (``append_message``): sequence numbers, client-id
idempotency, routing of new conversations and real-time events apply as for the widget.

Outbound: an operator's reply in a social/SMS conversation writes a ``channel_deliveries`` row
in the same transaction as the message; after commit a background task POSTs it, up to
:data:`MAX_ATTEMPTS` times with :data:`RETRY_BACKOFF_SECONDS` between attempts. Attempts are
claimed through the row (``next_attempt_at`` acts as a lease), so :func:`deliver_due` can pick
up what a crashed process left pending without two processes sending the same reply. Logs name
deliveries by id and status code only: never text, thread ids or phone numbers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide import __version__
from confide.access import policy
from confide.access.policy import Action, Principal
from confide.access.workspaces import find_workspace_by_slug
from confide.chat import events
from confide.chat.conversations import Outbox, _check_group, _default_group, _route
from confide.chat.messages import append_message, check_body
from confide.chat.models import (
    AuthorKind,
    Channel,
    ChannelDelivery,
    ChannelEndpoint,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    Visitor,
)
from confide.chat.visitors import _clean_identity, new_vuid
from confide.core.clock import utcnow
from confide.core.errors import Conflict, InvalidSignature, NotFound, ValidationFailed
from confide.runtime import Runtime

log = logging.getLogger("confide.channels")

SOCIAL_CHANNELS = frozenset({Channel.SOCIAL, Channel.SMS})
RECORDED_CHANNELS = frozenset({Channel.CALL, Channel.SMS, Channel.VIDEO})
SIGNATURE_HEADER = "X-Confide-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
# Outbound delivery; tests shorten the backoff.
MAX_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS: tuple[float, ...] = (2.0, 10.0)
OUTBOUND_TIMEOUT_SECONDS = 10.0
# While an attempt is in flight its row is leased for this long (crash: retried afterwards).
ATTEMPT_LEASE_SECONDS = OUTBOUND_TIMEOUT_SECONDS + 20.0
DELIVERY_LIST_LIMIT = 100
MAX_CLIENT_ID = 64
MAX_METADATA_EXTRAS = 20
# Metadata is statistics, not identity: these keys belong in ``visitor`` (the vault).
IDENTIFYING_METADATA_KEYS = frozenset(
    {"name", "email", "phone", "number", "from", "to", "caller", "callee", "msisdn", "address"}
)


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


def _signing_secret(rt: Runtime, endpoint: ChannelEndpoint) -> str:
    return rt.secret.keyed_hash("channel-signing", f"{endpoint.id}:{endpoint.signing_secret}")


# -- endpoints (admin) --------------------------------------------------------------------


def _social_channel(channel: str) -> Channel:
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
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat(),
    }


async def _endpoint(
    session: AsyncSession, workspace_id: uuid.UUID, channel: Channel, *, lock: bool = False
) -> ChannelEndpoint | None:
    query = select(ChannelEndpoint).where(
        ChannelEndpoint.workspace_id == workspace_id, ChannelEndpoint.channel == channel
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def do_configure_endpoint(
    rt: Runtime, principal: Principal, channel: str, *, outbound_url: str | None, enabled: bool
) -> tuple[dict[str, Any], str | None]:
    """Create or update the endpoint of a channel. Returns its description and, on creation
    only, the signing secret (never retrievable again)."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    kind = _social_channel(channel)
    try:
        async with rt.db.transaction() as session:
            endpoint = await _endpoint(session, principal.workspace_id, kind, lock=True)
            created = endpoint is None
            if endpoint is None:
                endpoint = ChannelEndpoint(
                    workspace_id=principal.workspace_id,
                    channel=kind,
                    signing_secret=secrets.token_hex(16),
                )
                session.add(endpoint)
            endpoint.outbound_url = outbound_url
            endpoint.enabled = enabled
            await session.flush()
    except IntegrityError as exc:  # configured at the same moment by another admin
        raise Conflict("This channel was just configured by someone else; reload.") from exc
    return render_endpoint(endpoint), _signing_secret(rt, endpoint) if created else None


async def do_rotate_secret(
    rt: Runtime, principal: Principal, channel: str
) -> tuple[dict[str, Any], str]:
    """A new signing secret; the previous one stops working at once, both directions."""
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    assert principal.workspace_id is not None
    kind = _social_channel(channel)
    async with rt.db.transaction() as session:
        endpoint = await _endpoint(session, principal.workspace_id, kind, lock=True)
        if endpoint is None:
            raise NotFound("This channel is not configured yet.", field="channel")
        endpoint.signing_secret = secrets.token_hex(16)
        await session.flush()
    return render_endpoint(endpoint), _signing_secret(rt, endpoint)


async def list_endpoints(rt: Runtime, principal: Principal) -> list[dict[str, Any]]:
    policy.authorize(principal, Action.WORKSPACE_SETTINGS)
    async with rt.db.session() as session:
        rows = await session.scalars(
            select(ChannelEndpoint)
            .where(ChannelEndpoint.workspace_id == principal.workspace_id)
            .order_by(ChannelEndpoint.channel)
        )
        return [render_endpoint(e) for e in rows.all()]


# -- inbound webhook ----------------------------------------------------------------------


@dataclass(frozen=True)
class InboundResult:
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    seq: int
    duplicate: bool


async def find_inbound_endpoint(rt: Runtime, workspace_slug: str, channel: str) -> ChannelEndpoint:
    """The enabled endpoint a webhook is addressed to, or *not found*."""
    workspace = await find_workspace_by_slug(rt, workspace_slug)
    kind = _social_channel(channel)
    if workspace is None:
        raise NotFound("No such workspace or channel.")
    async with rt.db.session() as session:
        endpoint = await _endpoint(session, workspace.id, kind)
    if endpoint is None or not endpoint.enabled:
        raise NotFound("No such workspace or channel.")
    return endpoint


def verify_inbound(rt: Runtime, endpoint: ChannelEndpoint, header: str | None, body: bytes) -> None:
    verify_signature(_signing_secret(rt, endpoint), header, body)


def provider_client_id(message_id: str) -> str:
    """The provider's message id as a client id; ids longer than a client id are hashed (the
    same id always maps to the same value, so redelivery stays idempotent)."""
    if len(message_id) <= MAX_CLIENT_ID and message_id.isprintable():
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()[:56]


async def _message_by_client_id(
    session: AsyncSession, conversation_id: uuid.UUID, client_id: str
) -> Message | None:
    # uq_messages_client_id
    return await session.scalar(
        select(Message).where(
            Message.conversation_id == conversation_id, Message.client_id == client_id
        )
    )


async def _new_visitor(rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID) -> Visitor:
    subject_id = await rt.vault.create_subject(session, workspace_id=workspace_id, kind="visitor")
    visitor = Visitor(workspace_id=workspace_id, vuid=new_vuid(), subject_id=subject_id)
    session.add(visitor)
    await session.flush()
    return visitor


async def _fill_identity(
    rt: Runtime, session: AsyncSession, visitor: Visitor, fields: dict[str, str | None]
) -> None:
    """Attach what a provider says about the sender, without overwriting what the host's own
    identify call (or an earlier message) already set."""
    wanted = {k: v for k, v in fields.items() if v}
    if not wanted:
        return
    current = (await rt.vault.read_fields(session, [visitor.subject_id]))[visitor.subject_id]
    updates: dict[str, str | None] = {
        k: v for k, v in wanted.items() if k != "handle" and not current.get(k)
    }
    handle = wanted.get("handle")
    if handle:
        attributes = json.loads(current["attributes"]) if current.get("attributes") else {}
        if not attributes.get("handle"):
            attributes["handle"] = handle
            updates["attributes"] = json.dumps(attributes, sort_keys=True, separators=(",", ":"))
    if updates:
        await rt.vault.write_fields(session, visitor.subject_id, updates)


async def do_receive_inbound(
    rt: Runtime,
    endpoint: ChannelEndpoint,
    *,
    thread_id: str,
    message_id: str,
    text: str,
    sender: dict[str, str | None],
) -> InboundResult:
    """Store one inbound message in the conversation of its thread (created, or replaced by a
    new one if the thread's conversation was closed), as the thread's visitor."""
    body = check_body(rt, text)
    client_id = provider_client_id(message_id)
    workspace_id = endpoint.workspace_id
    for _attempt in range(3):
        outbox = Outbox()
        try:
            async with rt.db.transaction() as session:
                result = await _receive(
                    rt, session, endpoint, workspace_id, thread_id, client_id, sender, outbox
                )
                if isinstance(result, InboundResult):
                    return result
                conversation, principal = result
                message = await append_message(
                    rt,
                    session,
                    conversation,
                    principal,
                    client_id=client_id,
                    body=body,
                    author_kind=AuthorKind.VISITOR,
                    outbox=outbox,
                )
        except IntegrityError:
            continue  # the same thread or message raced in from another request: look again
        await outbox.publish(rt)
        return InboundResult(conversation.id, message.id, message.seq, False)
    raise Conflict("The message could not be stored; deliver it again.")


async def _receive(
    rt: Runtime,
    session: AsyncSession,
    endpoint: ChannelEndpoint,
    workspace_id: uuid.UUID,
    thread_id: str,
    client_id: str,
    sender: dict[str, str | None],
    outbox: Outbox,
) -> InboundResult | tuple[Conversation, Principal]:
    # uq_conversations_thread
    conversation = await session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.channel == endpoint.channel,
            Conversation.external_thread == thread_id,
        )
        .with_for_update()
    )
    if conversation is not None:
        stored = await _message_by_client_id(session, conversation.id, client_id)
        if stored is not None:
            return InboundResult(conversation.id, stored.id, stored.seq, True)
    if conversation is None or conversation.status is ConversationStatus.CLOSED:
        if conversation is not None:
            visitor = await session.get(Visitor, conversation.visitor_id)
            # One conversation per thread: the closed one hands the thread to its successor.
            conversation.external_thread = None
            await session.flush()
        else:
            visitor = None
        if visitor is None:
            visitor = await _new_visitor(rt, session, workspace_id)
        conversation = Conversation(
            workspace_id=workspace_id,
            visitor_id=visitor.id,
            channel=endpoint.channel,
            group_id=await _default_group(session, workspace_id),
            external_thread=thread_id,
        )
        session.add(conversation)
        await session.flush()
        outbox.conversation_changed(conversation, "created")
        await _route(rt, session, conversation, outbox)
    else:
        visitor = await session.get(Visitor, conversation.visitor_id)
    assert visitor is not None
    await _fill_identity(rt, session, visitor, sender)
    visitor.last_seen_at = utcnow()
    principal = Principal(kind="visitor", workspace_id=workspace_id, visitor_id=visitor.id)
    return conversation, principal


# -- outbound replies ---------------------------------------------------------------------

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
    endpoint = await _endpoint(session, conversation.workspace_id, conversation.channel)
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
    if conversation.external_thread is None:
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
    status_code, error = await _post(url, secret, payload, delivery_id, attempt)
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
        elif not _retryable(status_code) or attempt >= MAX_ATTEMPTS:
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
    endpoint = await _endpoint(session, delivery.workspace_id, delivery.channel)
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
    assert endpoint.outbound_url is not None
    payload = {
        "thread_id": conversation.external_thread,
        "message_id": str(message.id),
        "text": texts[message.id],
        "seq": message.seq,
    }
    return endpoint.outbound_url, _signing_secret(rt, endpoint), payload


async def _post(
    url: str, secret: str, payload: dict[str, Any], delivery_id: uuid.UUID, attempt: int
) -> tuple[int | None, str | None]:
    """POST the signed payload. Returns (status code, error code or ``None`` if delivered)."""
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
        # admin configured, nothing else.
        async with httpx.AsyncClient(
            timeout=OUTBOUND_TIMEOUT_SECONDS, trust_env=False, follow_redirects=False
        ) as client:
            response = await client.post(url, content=body, headers=headers)
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


# -- recorded call/SMS/video conversations ------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    author: AuthorKind
    text: str
    client_id: str | None


def _check_recording(
    rt: Runtime,
    channel: Channel,
    metadata: dict[str, Any],
    extras: dict[str, Any],
    transcript: list[TranscriptLine] | None,
) -> list[tuple[TranscriptLine, str]]:
    if channel not in RECORDED_CHANNELS:
        raise ValidationFailed("Record 'call', 'sms' or 'video' conversations.", field="channel")
    if channel is Channel.VIDEO and transcript is not None:
        raise ValidationFailed(
            "Video is recorded as metadata only: Confide never stores the stream or a "
            "transcript of it.",
            field="transcript",
        )
    if len(extras) > MAX_METADATA_EXTRAS:
        raise ValidationFailed(
            f"Send at most {MAX_METADATA_EXTRAS} extra metadata values.", field="metadata"
        )
    for key in extras:
        if len(key) > 64 or key.strip().casefold() in IDENTIFYING_METADATA_KEYS:
            raise ValidationFailed(
                "Metadata holds statistics, not identity: put names and numbers in 'visitor' "
                "(kept in the vault), and keep extra keys to 64 characters.",
                field=f"metadata.{key[:64]}",
            )
    started_at = metadata["started_at"]
    if isinstance(started_at, datetime) and started_at > utcnow() + timedelta(
        seconds=SIGNATURE_TOLERANCE_SECONDS
    ):
        raise ValidationFailed("started_at is in the future.", field="metadata.started_at")
    lines: list[tuple[TranscriptLine, str]] = []
    seen: set[str] = set()
    for index, line in enumerate(transcript or []):
        try:
            body = check_body(rt, line.text)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field=f"transcript.{index}.text") from exc
        if line.client_id is not None:
            if line.client_id in seen or not line.client_id.isprintable():
                raise ValidationFailed(
                    "Each client_id of a transcript must be unique and printable.",
                    field=f"transcript.{index}.client_id",
                )
            seen.add(line.client_id)
        lines.append((line, body))
    return lines


async def do_record_conversation(
    rt: Runtime,
    principal: Principal,
    *,
    channel: str,
    vuid: str | None,
    identity: dict[str, Any] | None,
    group_id: uuid.UUID | None,
    external_thread: str | None,
    metadata: dict[str, Any],
    extras: dict[str, Any],
    transcript: list[TranscriptLine] | None,
    keep_open: bool,
) -> tuple[dict[str, Any], bool]:
    """Store a call/SMS/video conversation the host's backend handled: its metadata and, for
    call/SMS, its transcript (through the message path, in order). Closed unless ``keep_open``
    (then it enters its group's queue like a new chat). A retry with the same
    ``external_thread`` and metadata returns the stored one. Returns (description, duplicate)."""
    policy.authorize(principal, Action.CONVERSATIONS_RECORD)
    assert principal.workspace_id is not None
    workspace_id = principal.workspace_id
    try:
        kind = Channel(channel)
    except ValueError:
        kind = Channel.WEB  # refused just below
    lines = _check_recording(rt, kind, metadata, extras, transcript)
    stored_metadata = json.loads(json.dumps({**metadata, **extras}, default=_json_default))
    started_at: datetime = metadata["started_at"]
    outbox = Outbox()
    try:
        async with rt.db.transaction() as session:
            if external_thread is not None:
                existing = await session.scalar(
                    select(Conversation).where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.channel == kind,
                        Conversation.external_thread == external_thread,
                    )
                )
                if existing is not None:
                    if existing.call_metadata != stored_metadata:
                        raise Conflict(
                            "A different conversation was already recorded with this "
                            "external_thread on this channel.",
                            field="external_thread",
                        )
                    visitor = await session.get(Visitor, existing.visitor_id)
                    assert visitor is not None
                    return await _describe_recording(session, existing, visitor), True
            visitor = await _recording_visitor(rt, session, workspace_id, vuid)
            if identity:
                await _identify(rt, session, visitor, identity)
            if group_id is not None:
                await _check_group(session, workspace_id, group_id)
            else:
                group_id = await _default_group(session, workspace_id)
            conversation = Conversation(
                workspace_id=workspace_id,
                visitor_id=visitor.id,
                channel=kind,
                group_id=group_id,
                external_thread=external_thread,
                call_metadata=stored_metadata,
                created_at=started_at,
            )
            if not keep_open:
                conversation.status = ConversationStatus.CLOSED
                conversation.closed_at = started_at + timedelta(
                    seconds=int(metadata["duration_seconds"])
                )
            session.add(conversation)
            await session.flush()
            author = Principal(kind="api_key", workspace_id=workspace_id)
            for line, body in lines:
                await append_message(
                    rt,
                    session,
                    conversation,
                    author,
                    client_id=line.client_id,
                    body=body,
                    author_kind=line.author,
                    outbox=outbox,
                )
            outbox.conversation_changed(conversation, "created")
            if keep_open:
                await _route(rt, session, conversation, outbox)
            description = await _describe_recording(session, conversation, visitor)
    except IntegrityError as exc:  # the same external_thread recorded concurrently
        raise Conflict(
            "This external_thread was recorded at the same moment; retry to get it.",
            field="external_thread",
        ) from exc
    await outbox.publish(rt)
    return description, False


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def _recording_visitor(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID, vuid: str | None
) -> Visitor:
    if vuid is None:
        return await _new_visitor(rt, session, workspace_id)
    visitor = await session.scalar(
        select(Visitor).where(Visitor.workspace_id == workspace_id, Visitor.vuid == vuid)
    )
    if visitor is None:
        raise NotFound("No visitor with that VUID in this workspace.", field="vuid")
    visitor.last_seen_at = utcnow()
    return visitor


async def _identify(
    rt: Runtime, session: AsyncSession, visitor: Visitor, fields: dict[str, Any]
) -> None:
    """What the host's backend says about the visitor, as the identify API would store it
    (custom attributes merged into those already there)."""
    cleaned = _clean_identity(fields)
    if cleaned.get("attributes"):
        current = (await rt.vault.read_fields(session, [visitor.subject_id], ["attributes"]))[
            visitor.subject_id
        ].get("attributes")
        merged = {
            **(json.loads(current) if current else {}),
            **json.loads(cleaned["attributes"] or "{}"),
        }
        merged = {k: v for k, v in merged.items() if v is not None}
        cleaned["attributes"] = json.dumps(merged, sort_keys=True, separators=(",", ":"))
    await rt.vault.write_fields(session, visitor.subject_id, cleaned)


async def _describe_recording(
    session: AsyncSession, conversation: Conversation, visitor: Visitor
) -> dict[str, Any]:
    """What the host's backend gets back: facts and message envelopes, never the text."""
    rows = (
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
        )
    ).all()
    return {
        "conversation": {
            **events.conversation_facts(conversation),
            "external_thread": conversation.external_thread,
            "call_metadata": conversation.call_metadata,
        },
        "visitor": {"id": str(visitor.id), "vuid": visitor.vuid},
        "messages": [
            {
                "id": str(m.id),
                "seq": m.seq,
                "client_id": m.client_id,
                "author": m.author_kind.value,
            }
            for m in rows
        ],
    }
