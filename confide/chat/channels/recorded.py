"""Recorded call/SMS/video conversations: what the host's backend handled, stored by API key
(metadata, and for call/SMS the transcript through the message path)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from confide.access import policy
from confide.access.policy import Action, Principal
from confide.audit.ledger import append
from confide.chat import events
from confide.chat.channels.endpoints import SIGNATURE_TOLERANCE_SECONDS
from confide.chat.conversations import open_conversation
from confide.chat.message_input import check_body
from confide.chat.message_writes import append_message
from confide.chat.models import (
    AuthorKind,
    Channel,
    Conversation,
    Message,
    Visitor,
)
from confide.chat.visitors import add_visitor, clean_identity, merge_identity
from confide.core.clock import utcnow
from confide.core.errors import Conflict, NotFound, ValidationFailed

if TYPE_CHECKING:
    from confide.runtime import Runtime

RECORDED_CHANNELS = frozenset({Channel.CALL, Channel.SMS, Channel.VIDEO})
MAX_METADATA_EXTRAS = 20
# Metadata is statistics, not identity: these keys belong in ``visitor`` (the vault).
IDENTIFYING_METADATA_KEYS = frozenset(
    {"name", "email", "phone", "number", "from", "to", "caller", "callee", "msisdn", "address"}
)


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
    try:
        async with rt.db.transaction() as session:
            thread_index = (
                rt.vault.thread_index(workspace_id, kind.value, external_thread)
                if external_thread is not None
                else None
            )
            if thread_index is not None:
                # uq_conversations_thread
                existing = await session.scalar(
                    select(Conversation).where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.channel == kind,
                        Conversation.external_thread_index == thread_index,
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
                    described = await _describe_recording(
                        session, existing, visitor, external_thread
                    )
                    return described, True
            visitor = await _recording_visitor(rt, session, workspace_id, vuid)
            if identity:
                await merge_identity(rt, session, visitor, clean_identity(identity))
            conversation = await open_conversation(
                rt,
                session,
                workspace_id=workspace_id,
                visitor=visitor,
                channel=kind,
                group_id=group_id,
                external_thread=external_thread,
                call_metadata=stored_metadata,
                started_at=started_at,
                ended_at=None
                if keep_open
                else started_at + timedelta(seconds=int(metadata["duration_seconds"])),
            )
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
                )
            await append(
                session,
                rt,
                principal,
                "conversation.record",
                subject_id=visitor.subject_id,
                resource=f"conversation:{conversation.id}",
                details={"channel": kind.value, "lines": len(lines)},
            )
            description = await _describe_recording(session, conversation, visitor, external_thread)
    except IntegrityError as exc:  # the same external_thread recorded concurrently
        raise Conflict(
            "This external_thread was recorded at the same moment; retry to get it.",
            field="external_thread",
        ) from exc
    return description, False


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


async def _recording_visitor(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID, vuid: str | None
) -> Visitor:
    if vuid is None:
        return await add_visitor(rt, session, workspace_id)
    visitor = await session.scalar(
        select(Visitor).where(Visitor.workspace_id == workspace_id, Visitor.vuid == vuid)
    )
    if visitor is None:
        raise NotFound("No visitor with that VUID in this workspace.", field="vuid")
    visitor.last_seen_at = utcnow()
    return visitor


async def _describe_recording(
    session: AsyncSession,
    conversation: Conversation,
    visitor: Visitor,
    external_thread: str | None,
) -> dict[str, Any]:
    """What the host's backend gets back: facts and message envelopes, never the text. The
    thread id is echoed from the request (stored only as a keyed hash and a sealed copy)."""
    rows = (
        await session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.seq)
        )
    ).all()
    return {
        "conversation": {
            **events.conversation_facts(conversation),
            "external_thread": external_thread,
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
