"""Where subject exports are kept, sealed, and how they leave: signed, short-lived links.

Decisions (see docs/architecture.md, "Subject exports"):

- **Sealed at rest, streamed out decrypted.** A subject export is the most concentrated copy
  of a person's data Confide ever makes, so the ZIP is never on disk in the clear. Each export
  gets a random 256-bit file key; the ZIP stream is sealed under it as a sealed stream
  (``confide.crypto.streams``: AES-256-GCM chunks of ``CHUNK_BYTES`` whose nonces carry the
  chunk index and a last-chunk flag, so chunks cannot be reordered, dropped or the file cut
  short unnoticed), bound to the blob's key. The file key itself is sealed under the **data
  subject's** data key in the blob's header: erasing the person destroys that key, and every
  export of them becomes unreadable at once, wherever a copy went (backups of the data
  directory too).
- **Short-lived.** The blob is kept ``EXPORT_TTL_SECONDS`` (the expiry is bound into the
  sealed header, so editing it breaks the file) and deleted by the hourly
  ``purge_subject_exports`` job; a download link lives ``LINK_TTL_SECONDS``. A link is
  ``payload.signature``: the payload (blob key, subject, workspace, expiry, who asked) in
  base64url JSON, the signature an HMAC-SHA256 under a key derived from the instance secret,
  compared in constant time.
- **Audited downloads.** Each download appends ``subject.export_download`` naming the subject
  before the first byte leaves (``open_export_download``).

Blob layout: ``CONFIDE-EXPORT/2 <header JSON>\\n`` then the sealed stream (``CFS1`` ...).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from confide.audit.ledger import Actor
from confide.core.clock import utcnow
from confide.core.errors import Gone, KeyUnavailable, NotFound, SealedStreamCorrupt
from confide.core.storage import BlobStore, LocalDirectoryStore
from confide.crypto import streams
from confide.crypto.providers import KEY_BYTES
from confide.jobs.kinds import Batch, BatchResult, JobKind, register
from confide.privacy.access import record_subject_export

if TYPE_CHECKING:
    from confide.runtime import Runtime

EXPORT_TTL_SECONDS = 24 * 3600
LINK_TTL_SECONDS = 15 * 60
CHUNK_BYTES = 256 * 1024
MAGIC = b"CONFIDE-EXPORT/2 "
_MAX_HEADER_BYTES = 4096
_LINK_PURPOSE = "subject-export-link"


def export_store(rt: Runtime) -> BlobStore:
    """The store of subject exports: ``data_dir/exports`` on local disk."""
    return LocalDirectoryStore(rt.settings.data_dir / "exports")


def _key_aad(key: str, subject_id: uuid.UUID, expires_at: str) -> str:
    return f"subject_exports:{key}:{subject_id}:{expires_at}"


def _stream_aad(key: str) -> bytes:
    return f"subject_exports:{key}".encode()


async def seal_stream(
    rt: Runtime,
    key: str,
    workspace_id: uuid.UUID,
    subject_id: uuid.UUID,
    expires_at: datetime,
    chunks: AsyncIterable[bytes],
) -> AsyncIterator[bytes]:
    """The sealed blob of the plaintext ``chunks``: header, then a sealed stream
    (confide.crypto.streams) in chunks of ``CHUNK_BYTES``. Raises ``KeyErased`` (410) when the
    subject's key was destroyed."""
    file_key = secrets.token_bytes(KEY_BYTES)
    expiry = expires_at.isoformat()
    wrapped = await rt.keyring.encrypt(
        workspace_id,
        subject_id,
        base64.b64encode(file_key).decode(),
        _key_aad(key, subject_id, expiry),
    )
    header = {"wrapped_key": wrapped, "subject_id": str(subject_id), "expires_at": expiry}
    header.update(workspace_id=str(workspace_id))
    yield MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n"
    async for sealed in streams.seal_stream(file_key, chunks, _stream_aad(key), CHUNK_BYTES):
        yield sealed


@dataclass(frozen=True)
class SealedHeader:
    """What a sealed export's header says, once its file key has been unwrapped."""

    file_key: bytes
    subject_id: uuid.UUID
    workspace_id: uuid.UUID
    expires_at: datetime


async def _open_header(rt: Runtime, key: str, first: bytes) -> tuple[SealedHeader, bytes]:
    line, newline, rest = first.partition(b"\n")
    if not newline or not line.startswith(MAGIC):
        raise KeyUnavailable("Not a sealed subject export.")
    header = json.loads(line[len(MAGIC) :])
    subject_id = uuid.UUID(header["subject_id"])
    workspace_id = uuid.UUID(header["workspace_id"])
    # Fresh from the key store, never the process's cache: an erasure run by another process
    # (the command line) may not have reached this one's cache yet.
    plain = await rt.keyring.decrypt(
        workspace_id,
        subject_id,
        header["wrapped_key"],
        _key_aad(key, subject_id, header["expires_at"]),
        fresh=True,
    )
    opened = SealedHeader(
        base64.b64decode(plain),
        subject_id,
        workspace_id,
        datetime.fromisoformat(header["expires_at"]),
    )
    return opened, rest


async def _after_header(rest: bytes, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield rest
    async for chunk in chunks:
        yield chunk


async def read_sealed(rt: Runtime, store: BlobStore, key: str) -> AsyncIterator[bytes]:
    """The plaintext ZIP of the sealed blob ``key``, chunk by chunk. Raises
    ``FileNotFoundError`` for a missing blob, ``KeyUnavailable`` when the subject's key is gone
    or a chunk was altered, reordered, dropped or cut short."""
    chunks = aiter(store.read(key))
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if b"\n" in buffer:
            break
        if len(buffer) > _MAX_HEADER_BYTES:
            raise KeyUnavailable("Not a sealed subject export.")
    else:
        raise KeyUnavailable("The subject export is cut short.")
    header, rest = await _open_header(rt, key, bytes(buffer))
    sealed = _after_header(rest, chunks)
    try:
        async for plain in streams.open_stream(header.file_key, sealed, _stream_aad(key)):
            yield plain
    except SealedStreamCorrupt as exc:
        raise KeyUnavailable(f"The subject export does not open: {exc}") from exc


async def sealed_header(rt: Runtime, store: BlobStore, key: str) -> SealedHeader:
    """The header of the sealed blob ``key`` (unwraps its file key). Raises
    ``FileNotFoundError`` or ``KeyUnavailable`` like :func:`read_sealed`."""
    chunks = store.read(key, chunk_bytes=_MAX_HEADER_BYTES)
    try:
        first = await anext(chunks, b"")
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
    header, _ = await _open_header(rt, key, first)
    return header


# -- links ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportLink:
    """A verified download link: which blob, whose, until when, and who asked for it."""

    key: str
    subject_id: uuid.UUID
    workspace_id: uuid.UUID
    expires_at_unix: int
    issued_by: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(
    rt: Runtime,
    key: str,
    subject_id: uuid.UUID,
    workspace_id: uuid.UUID,
    issued_by: str,
    *,
    ttl_seconds: int = LINK_TTL_SECONDS,
) -> tuple[str, datetime]:
    """A download token for the export ``key`` and when it expires."""
    now = utcnow()
    expires = int(now.timestamp()) + ttl_seconds
    payload = {"k": key, "s": str(subject_id), "w": str(workspace_id), "e": expires}
    payload["b"] = issued_by
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(rt.secret.derive(_LINK_PURPOSE), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}", datetime.fromtimestamp(expires, UTC)


def verify_link(rt: Runtime, token: str) -> ExportLink:
    """The link ``token`` names, after checking its signature (constant time) and expiry.
    Raises ``NotFound`` (404, field ``token``) for a tampered, malformed or expired link: it
    leads nowhere, and says no more about why."""
    refused = NotFound(
        "This download link is invalid or has expired; ask for a new one.", field="token"
    )
    body, dot, signature = token.partition(".")
    if not dot or len(token) > 2048:
        raise refused
    expected = hmac.new(rt.secret.derive(_LINK_PURPOSE), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(signature)):
            raise refused
        payload: dict[str, Any] = json.loads(_unb64(body))
        link = ExportLink(
            str(payload["k"]),
            uuid.UUID(payload["s"]),
            uuid.UUID(payload["w"]),
            int(payload["e"]),
            str(payload["b"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise refused from exc
    if link.expires_at_unix <= utcnow().timestamp():
        raise refused
    return link


async def open_export_download(rt: Runtime, token: str) -> tuple[ExportLink, AsyncIterator[bytes]]:
    """Verify a download link, record ``subject.export_download`` (naming the subject, on the
    workspace's chain) and return the decrypted ZIP stream. Raises ``NotFound`` (404) for
    a bad or expired link, ``Gone`` (410) when the export was deleted, has expired or its
    subject was erased (key destroyed); the record is appended only for a download that
    starts."""
    link = verify_link(rt, token)
    store = export_store(rt)
    try:
        header = await sealed_header(rt, store, link.key)
    except (FileNotFoundError, KeyUnavailable) as exc:
        raise Gone("This export no longer exists; ask for a new one.", field="token") from exc
    if header.subject_id != link.subject_id or header.expires_at <= utcnow():
        raise Gone("This export no longer exists; ask for a new one.", field="token")
    async with rt.db.transaction() as tx:
        await record_subject_export(
            tx,
            rt,
            Actor("anonymous", None, link.workspace_id),
            link.subject_id,
            action="subject.export_download",
            resource=f"export:{link.key}",
            details={"link_issued_by": link.issued_by},
        )
    return link, read_sealed(rt, store, link.key)


async def purge_expired_exports(
    rt: Runtime, *, limit: int | None = None, now: datetime | None = None
) -> int:
    """Delete export blobs stored more than ``EXPORT_TTL_SECONDS`` ago (at most ``limit``);
    returns how many. Idempotent: a blob already gone is not counted."""
    store = export_store(rt)
    cutoff = (now or utcnow()) - timedelta(seconds=EXPORT_TTL_SECONDS)
    removed = 0
    for blob in await store.list():
        if limit is not None and removed >= limit:
            break
        if blob.modified_at <= cutoff and await store.delete(blob.key):
            removed += 1
    return removed


async def delete_exports_of(rt: Runtime, subject_ids: list[uuid.UUID]) -> int:
    """Delete every stored export of the data subjects ``subject_ids`` (their headers name
    them); returns how many. Run after an erasure commits: destroying the subject's key
    already makes the exports unreadable, and deleting them as well leaves nothing to open
    for a process whose key cache has not heard of the erasure yet (GDPR Art. 17)."""
    store, wanted, removed = export_store(rt), {str(s) for s in subject_ids}, 0
    for blob in await store.list():
        reader = store.read(blob.key, chunk_bytes=_MAX_HEADER_BYTES)
        try:
            first = await anext(reader, b"")
        except FileNotFoundError:
            continue  # purged meanwhile
        finally:
            aclose = getattr(reader, "aclose", None)
            if aclose is not None:
                await aclose()  # the file is closed now, not when collected
        line = first.partition(b"\n")[0]
        if not line.startswith(MAGIC):
            continue
        try:
            subject = json.loads(line[len(MAGIC) :]).get("subject_id")
        except ValueError:
            continue
        if subject in wanted and await store.delete(blob.key):
            removed += 1
    return removed


async def _run_purge_subject_exports(batch: Batch) -> BatchResult:
    removed = await purge_expired_exports(batch.rt, limit=batch.size)
    return BatchResult(items=removed, cursor=None, done=removed < batch.size)


PURGE_SUBJECT_EXPORTS = register(
    JobKind(
        name="purge_subject_exports",
        description="Delete subject exports (sealed ZIPs) past their expiry.",
        run_batch=_run_purge_subject_exports,
        every_seconds=3600,
        batch_size=500,
        in_transaction=False,  # files, not rows: deleting one twice is harmless
    )
)
