"""Short-lived signed links to attachments, and serving them safely.

A link is ``/api/v1/attachments/<id>/<variant>?expires=<unix seconds>&by=<reader>&sig=<hmac>``:
an HMAC (the instance secret, purpose ``attachment-link``) over the id, the variant, the expiry
and the reader it was handed to (``operator:<id>``, ``api_key:<id>`` or ``visitor``). It
is handed out only by a listing or an upload, which checked the policy and wrote the audit
record, and lives ``attachment_link_seconds`` (5 minutes by default), so an ``<img>`` can load
it without credentials while a copied link soon stops working. A link to an erased file finds
nothing (the row is gone, and the key that sealed the bytes is destroyed).

Each opening of a file (``file`` or ``download``, not the thumbnail the listing shows) by an
operator or an API key is recorded in the ledger as ``attachment.download``, naming the reader
the link was signed for and the visitor whose conversation it is: the listing said who could
open the files, this says who did (Art. 5(2)). A visitor opening their own file is not a read
by someone else.

Serving (every variant): ``X-Content-Type-Options: nosniff`` and a CSP of ``sandbox;
default-src 'none'``, so even a file a browser might render runs nothing. Only re-encoded
images (and their thumbnails) are served inline; documents and the ``download`` variant carry
``Content-Disposition: attachment`` (RFC 6266).
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from confide.access.policy import Principal
from confide.audit.ledger import Actor, append
from confide.chat.attachment_models import Attachment
from confide.core.blobs import blob_store
from confide.core.clock import utcnow
from confide.core.errors import InvalidSignature, KeyUnavailable, NotFound
from confide.privacy.vault import attachment_name_aad
from confide.runtime import Runtime

VARIANTS = ("file", "thumbnail", "download")
SERVE_CSP = "sandbox; default-src 'none'"
LINK_PATH = "/api/v1/attachments"


def blob_aad(attachment_id: uuid.UUID, variant: str) -> str:
    """What binds a sealed blob (``file`` or ``thumbnail``) to its attachment row."""
    return f"attachment:{attachment_id}" + ("" if variant == "file" else f":{variant}")


def _signature(
    rt: Runtime, attachment_id: uuid.UUID, variant: str, expires: int, reader: str
) -> str:
    return rt.secret.keyed_hash("attachment-link", f"{attachment_id}:{variant}:{expires}:{reader}")


def reader_of(principal: Principal) -> str:
    """``kind:id`` of the operator or API key a link is handed to; ``visitor`` for a visitor
    (their own files: nothing to record, so no id of theirs goes into a URL)."""
    if principal.kind == "visitor":
        return "visitor"
    return f"{principal.kind}:{principal.operator_id or principal.api_key_id}"


def links_for(
    rt: Runtime, attachment_id: uuid.UUID, *, has_thumbnail: bool, reader: str
) -> dict[str, Any]:
    """Signed URLs (``url``, ``download_url``, ``thumbnail_url`` or None) for ``reader``
    (:func:`reader_of`) and when they expire (``links_expire_at``, ISO 8601)."""
    expires = int(utcnow().timestamp()) + rt.settings.attachment_link_seconds

    def link(variant: str) -> str:
        sig = _signature(rt, attachment_id, variant, expires, reader)
        return (
            f"{LINK_PATH}/{attachment_id}/{variant}?expires={expires}"
            f"&by={quote(reader, safe='')}&sig={sig}"
        )

    return {
        "url": link("file"),
        "download_url": link("download"),
        "thumbnail_url": link("thumbnail") if has_thumbnail else None,
        "links_expire_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
    }


def check_link(
    rt: Runtime, attachment_id: uuid.UUID, variant: str, expires: int, sig: str, reader: str
) -> None:
    """Raise ``InvalidSignature`` (401) for a forged, altered or expired link."""
    if variant not in VARIANTS:
        raise NotFound("No such file.")
    expected = _signature(rt, attachment_id, variant, expires, reader)
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise InvalidSignature("This file link is not valid; open the conversation again.")
    if expires < utcnow().timestamp():
        raise InvalidSignature("This file link has expired; open the conversation again.")


async def open_name(rt: Runtime, attachment: Attachment) -> str | None:
    """The file's name, or None once the conversation's key was destroyed."""
    try:
        return await rt.keyring.decrypt(
            attachment.workspace_id,
            attachment.conversation_id,
            attachment.name_sealed,
            attachment_name_aad(attachment.id),
        )
    except KeyUnavailable:
        return None


def open_blob(rt: Runtime, attachment: Attachment, variant: str = "file") -> AsyncIterator[bytes]:
    """The plaintext of an attachment's ``file`` or ``thumbnail``, chunk by chunk (for the
    download route and the data-subject export, which records its own audit event). Raises,
    while iterating, ``KeyUnavailable`` once the conversation's key is destroyed,
    ``FileNotFoundError`` when the blob is gone, ``SealedStreamCorrupt`` when it was altered."""
    key = attachment.thumbnail_key if variant == "thumbnail" else attachment.blob_key
    if key is None:
        raise FileNotFoundError("This attachment has no such variant.")
    return rt.keyring.open_stream(
        attachment.workspace_id,
        attachment.conversation_id,
        blob_store(rt.settings).read(key),
        blob_aad(attachment.id, variant),
    )


@dataclass(frozen=True)
class Download:
    """What the transport sends: headers, then ``body`` (decrypted chunk by chunk)."""

    headers: dict[str, str]
    media_type: str
    body: AsyncIterator[bytes]


def _disposition(kind: str, name: str) -> str:
    ascii_name = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


async def open_download(
    rt: Runtime, attachment_id: uuid.UUID, variant: str, expires: int, sig: str, reader: str
) -> Download:
    """Check the link, find the file and start decrypting it; an operator's or API key's
    opening of the file is recorded (module docstring). Raises ``InvalidSignature`` (bad or
    expired link), ``NotFound`` (erased or deleted, or no thumbnail)."""
    check_link(rt, attachment_id, variant, expires, sig, reader)
    async with rt.db.session() as session:
        attachment = await session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("This file no longer exists.")
    key = attachment.thumbnail_key if variant == "thumbnail" else attachment.blob_key
    if key is None:
        raise NotFound("This file has no preview.")
    name = await open_name(rt, attachment)
    if name is None:
        raise NotFound("This file was erased.")
    plain = open_blob(rt, attachment, "thumbnail" if variant == "thumbnail" else "file")
    try:  # open the first chunk now: an erased key answers 404, not a broken stream
        first = await anext(plain)
    except (KeyUnavailable, FileNotFoundError) as exc:
        raise NotFound("This file was erased.") from exc
    if variant != "thumbnail":
        await _record_download(rt, attachment, variant, reader)
    inline = attachment.kind == "image" and variant != "download"
    media_type = attachment.content_type
    if variant == "thumbnail":
        media_type = "image/jpeg" if attachment.file_type == "jpeg" else "image/png"
    headers = {
        "Content-Disposition": _disposition("inline" if inline else "attachment", name),
        "Content-Security-Policy": SERVE_CSP,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    return Download(headers, media_type, _chain(first, plain))


async def _record_download(rt: Runtime, attachment: Attachment, variant: str, reader: str) -> None:
    kind, _, raw_id = reader.partition(":")
    if kind not in ("operator", "api_key"):
        return  # the visitor's own file
    from confide.chat.models import Conversation, Visitor

    async with rt.db.transaction() as tx:
        subject_id = await tx.scalar(
            select(Visitor.subject_id)
            .join(Conversation, Conversation.visitor_id == Visitor.id)
            .where(Conversation.id == attachment.conversation_id)
        )
        await append(
            tx,
            rt,
            Actor(kind, uuid.UUID(raw_id), attachment.workspace_id),
            "attachment.download",
            subject_id=subject_id,
            resource=f"conversation:{attachment.conversation_id}",
            details={"attachment_id": str(attachment.id), "variant": variant},
        )


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for chunk in rest:
        yield chunk
