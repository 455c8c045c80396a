"""Attachments: files sent in a web conversation by its visitor or an operator.

Design:
- **Judged by content.** The first bytes decide the type (``confide.chat.filetypes``), never the
  name or the declared type; the workspace's settings say which types and how many bytes it
  accepts. Images are decoded and re-encoded (every metadata block dropped, EXIF/GPS included)
  with a thumbnail; documents are stored as they are and only ever served as downloads.
- **Sealed before it touches the disk.** Bytes go straight from the request stream through
  ``Keyring.seal_stream`` under the conversation's data key into the blob store
  (``confide.core.blobs``); the file name is sealed under the same key. No temporary file in
  clear, and the body is never read whole into memory twice (a document streams; an image is
  buffered once, because decoding needs it whole). Erasing the conversation's key makes every
  copy unreadable, backups included; erasure deletes the blobs after commit (subject map
  ``blob_columns``).
- **Two units of work.** The upload is checked (policy, consent, settings) in a short unit,
  the bytes are sealed and stored outside any transaction (a database lock is never held while
  a client uploads), then one unit re-checks the conversation, inserts the row and the ``file``
  message that carries it in the transcript, and appends the audit record. If that unit fails,
  the stored blobs are deleted.
- **Reads like message reads.** Listing a conversation's files goes through the same policy
  (``load_for`` with READ: archived and restricted conversations follow the lifecycle rules) and
  the same audit record as reading its messages; the listing hands out short-lived signed links
  (``confide.chat.attachment_links``), which the download route checks.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from sqlalchemy import select

from confide.access.policy import ConversationAccess, Principal
from confide.audit import ledger
from confide.chat import attachment_links
from confide.chat.attachment_links import blob_aad
from confide.chat.attachment_models import Attachment
from confide.chat.attachment_settings import load_settings
from confide.chat.conversations import load_for
from confide.chat.filetypes import FILE_TYPES, SNIFF_BYTES, reencode_image, sniff
from confide.chat.message_writes import append_message
from confide.chat.models import Channel, Conversation, ConversationStatus
from confide.chat.visitors import subject_of
from confide.core.blobs import blob_store, delete_blobs
from confide.core.clock import utcnow
from confide.core.db import UnitOfWork, new_id
from confide.core.errors import (
    Conflict,
    Forbidden,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedFileType,
)
from confide.privacy import consent, consent_state
from confide.privacy.access import read_transcript
from confide.privacy.vault import attachment_name_aad
from confide.runtime import Runtime

MAX_NAME_CHARS = 200
STREAM_PIECE_BYTES = 64 * 1024


def clean_name(name: str | None, file_type: str) -> str:
    """A display name: the last path segment, without control characters, at most
    ``MAX_NAME_CHARS``; ``file.<type>`` when nothing is left."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:MAX_NAME_CHARS]
    return base or f"file.{file_type}"


@dataclass(frozen=True)
class _Limits:
    workspace_id: uuid.UUID
    max_bytes: int
    allowed: frozenset[str]


async def _check_upload(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> tuple[_Limits, Conversation]:
    """Rate, policy, lifecycle, consent and settings, before a byte of the body is read."""
    if principal.kind == "visitor":
        wait = await rt.limiter.hit(
            f"file:{principal.visitor_id}", rt.settings.visitor_files_per_minute, 60
        )
        if wait:
            raise TooManyRequests(
                "You are sending files too fast; wait a moment.",
                headers={"Retry-After": str(wait)},
            )
    async with rt.db.session() as session:
        conversation = await load_for(session, principal, conversation_id)
        if conversation.channel is not Channel.WEB:
            raise Conflict("Files can be sent in web chats only.")
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("This conversation is closed; start a new one (visitors) or reopen it.")
        privacy = await rt.privacy_cache.load(session, conversation.workspace_id)
        if not privacy.store_transcripts:
            raise Conflict("Files need stored transcripts; this workspace keeps none.")
        if principal.kind == "visitor" and privacy.consent_required:
            await consent.require(session, principal, "chat")
        elif privacy.consent_required:  # not a byte read for a file that would be refused
            await consent_state.refuse_if_withdrawn(
                session, conversation.workspace_id, conversation.visitor_id
            )
        settings = await load_settings(session, conversation.workspace_id)
        if not settings.enabled:
            raise Forbidden("This workspace does not accept files in chats.")
    limit = min(settings.max_bytes, rt.settings.attachment_max_bytes)
    return _Limits(
        conversation.workspace_id, limit, frozenset(settings.allowed_types)
    ), conversation


async def _head_and_rest(
    chunks: AsyncIterable[bytes], max_bytes: int
) -> tuple[bytes, bool, AsyncIterator[bytes]]:
    """The first ``SNIFF_BYTES`` (fewer if the body ends), whether the body ended, and an
    iterator over the rest; the byte count is checked against ``max_bytes`` throughout."""
    iterator = aiter(_bounded(chunks))
    head = bytearray()
    complete = False
    while len(head) < SNIFF_BYTES:
        try:
            head += await anext(iterator)
        except StopAsyncIteration:
            complete = True
            break
        if len(head) > max_bytes:
            raise _too_large(max_bytes)

    async def rest() -> AsyncIterator[bytes]:
        total = len(head)
        async for chunk in iterator:
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(max_bytes)
            yield chunk

    return bytes(head), complete, rest()


async def _bounded(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The stream in pieces of at most ``STREAM_PIECE_BYTES``: a server (or test client) that
    hands over one huge chunk does not make every later stage hold it whole again."""
    async for chunk in chunks:
        if len(chunk) <= STREAM_PIECE_BYTES:
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(view), STREAM_PIECE_BYTES):
            yield bytes(view[start : start + STREAM_PIECE_BYTES])


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Files are limited to {max_bytes // (1024 * 1024) or 1} MB here.")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _then(head: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield head
    async for chunk in rest:
        yield chunk


@dataclass
class _Stored:
    file_type: str
    kind: str
    content_type: str
    size_bytes: int
    blob_key: str
    thumbnail_key: str | None = None
    width: int | None = None
    height: int | None = None


async def _store(
    rt: Runtime,
    limits: _Limits,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    chunks: AsyncIterable[bytes],
) -> _Stored:
    head, complete, rest = await _head_and_rest(chunks, limits.max_bytes)
    if not head:
        raise UnsupportedFileType("The file is empty.")
    file_type = sniff(head, complete=complete)
    if file_type not in limits.allowed:
        raise UnsupportedFileType(f"This workspace does not accept {file_type} files.")
    detected = FILE_TYPES[file_type]
    store = blob_store(rt.settings)
    key = f"attachments/{conversation_id}/{attachment_id}"

    async def seal_into(blob_key: str, variant: str, plain: AsyncIterable[bytes]) -> int:
        sealed = rt.keyring.seal_stream(
            limits.workspace_id, conversation_id, plain, blob_aad(attachment_id, variant)
        )
        return await store.put(blob_key, sealed)

    if detected.kind == "document":
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in _then(head, rest):
                size += len(chunk)
                yield chunk

        await seal_into(key, "file", counted())
        return _Stored(file_type, "document", detected.content_type, size, key)
    buffer = io.BytesIO()  # the one in-memory copy: decoding needs the whole image
    buffer.write(head)
    async for chunk in rest:
        buffer.write(chunk)
    buffer.seek(0)
    image = await anyio.to_thread.run_sync(reencode_image, buffer, file_type)
    buffer.close()
    thumb_key = f"{key}.thumbnail"
    try:
        await seal_into(key, "file", _once(image.data))
        await seal_into(thumb_key, "thumbnail", _once(image.thumbnail))
    except BaseException:
        await delete_blobs(rt.settings, [key, thumb_key])
        raise
    out = FILE_TYPES[image.file_type]
    return _Stored(
        image.file_type,
        "image",
        out.content_type,
        len(image.data),
        key,
        thumb_key,
        image.width,
        image.height,
    )


async def do_upload_attachment(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    name: str | None,
    chunks: AsyncIterable[bytes],
    client_id: str | None = None,
) -> dict[str, Any]:
    """Store a file sent in a web conversation and add the ``file`` message that carries it.

    ``chunks`` is the request body as it arrives. Returns ``{"attachment": ..., "message":
    ...}``. Raises ``NotFound`` (not the principal's conversation), ``Conflict`` (closed, not
    web, transcripts off), ``Forbidden`` (attachments off), ``ConsentRequired`` (a visitor who
    must consent and has not), ``PayloadTooLarge`` (413, over the workspace's limit),
    ``UnsupportedFileType`` (415, by content)."""
    limits, _ = await _check_upload(rt, principal, conversation_id)
    attachment_id = new_id()
    stored = await _store(rt, limits, conversation_id, attachment_id, chunks)
    try:
        return await _record(rt, principal, conversation_id, attachment_id, stored, name, client_id)
    except BaseException:
        await delete_blobs(rt.settings, [stored.blob_key, stored.thumbnail_key])
        raise


async def _record(
    rt: Runtime,
    principal: Principal,
    conversation_id: uuid.UUID,
    attachment_id: uuid.UUID,
    stored: _Stored,
    name: str | None,
    client_id: str | None,
) -> dict[str, Any]:
    display = clean_name(name, stored.file_type)
    async with rt.db.transaction() as tx:
        conversation = await load_for(tx, principal, conversation_id, lock=True)
        if conversation.status is ConversationStatus.CLOSED:
            raise Conflict("This conversation is closed; start a new one (visitors) or reopen it.")
        message, event = await append_message(
            rt, tx, conversation, principal, client_id=client_id, body=display, kind="file"
        )
        attachment = Attachment(
            id=attachment_id,
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            message_id=message.id,
            uploader_kind=principal.kind if principal.kind == "visitor" else "operator",
            uploader_operator_id=principal.operator_id,
            kind=stored.kind,
            file_type=stored.file_type,
            content_type=stored.content_type,
            size_bytes=stored.size_bytes,
            width=stored.width,
            height=stored.height,
            name_sealed=await rt.keyring.encrypt(
                conversation.workspace_id,
                conversation.id,
                display,
                attachment_name_aad(attachment_id),
            ),
            blob_key=stored.blob_key,
            thumbnail_key=stored.thumbnail_key,
            created_at=utcnow(),
        )
        tx.add(attachment)
        await tx.flush()
        await ledger.append(
            tx,
            rt,
            principal,
            "conversation.attachment_added",
            subject_id=await subject_of(tx, conversation.visitor_id),
            resource=f"conversation:{conversation.id}",
            details={"attachment_id": str(attachment_id), "file_type": stored.file_type},
        )
    return {"attachment": render(rt, attachment, display, principal), "message": event}


def render(
    rt: Runtime, attachment: Attachment, name: str | None, reader: Principal
) -> dict[str, Any]:
    """The wire form of an attachment, with links signed for ``reader`` valid
    ``attachment_link_seconds``."""
    links = attachment_links.links_for(
        rt,
        attachment.id,
        has_thumbnail=bool(attachment.thumbnail_key),
        reader=attachment_links.reader_of(reader),
    )
    return {
        "id": str(attachment.id),
        "conversation_id": str(attachment.conversation_id),
        "message_id": str(attachment.message_id) if attachment.message_id else None,
        "name": name,
        "kind": attachment.kind,
        "file_type": attachment.file_type,
        "content_type": attachment.content_type,
        "size_bytes": attachment.size_bytes,
        "width": attachment.width,
        "height": attachment.height,
        "uploader": attachment.uploader_kind,
        "created_at": attachment.created_at.isoformat(),
        **links,
    }


async def list_attachments(
    rt: Runtime, principal: Principal, conversation_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The conversation's files, oldest first, with fresh signed links. An operator's (or API
    key's) read is recorded like a message read, before any name is decrypted; the visitor's
    own read is not a read by someone else. Raises ``NotFound`` when the policy hides the
    conversation (another group's agent; archived: custodians only)."""
    async with rt.db.transaction() as tx:
        conversation = await load_for(
            tx, principal, conversation_id, access=ConversationAccess.READ
        )
        if principal.kind != "visitor":
            await read_record(tx, rt, principal, conversation)
        # ix_attachments_conversation_id
        rows = (
            await tx.scalars(
                select(Attachment)
                .where(Attachment.conversation_id == conversation.id)
                .order_by(Attachment.created_at, Attachment.id)
            )
        ).all()
        out = []
        for row in rows:
            name = await attachment_links.open_name(rt, row)
            out.append(render(rt, row, name, principal))
    return out


async def read_record(
    tx: UnitOfWork, rt: Runtime, principal: Principal, conversation: Conversation
) -> None:
    """The audit record of reading a conversation's files: the message-read path itself
    (``privacy.access.read_transcript``, with no message texts asked for)."""
    await read_transcript(
        tx,
        rt,
        principal,
        [],
        subject_id=await subject_of(tx, conversation.visitor_id),
        action="conversation.attachments_read",
        resource=f"conversation:{conversation.id}",
    )
