"""How a backup's bytes are stored: compressed (gzip), sealed in authenticated chunks under a
data key of the keyring (``Keyring.seal_stream``), with a manifest sealed under the same key.

The backup key is a platform data key whose id is derived from the backup's id: it lives in the
key store, never beside the backup, and pruning a backup destroys it (the blob is then
unreadable wherever a copy of it went). The manifest lists the SHA-256 of every sealed chunk, so
``verify`` names the chunk that changed before even trying to open it; opening the stream then
authenticates every chunk again (``SealedStreamCorrupt.chunk_index``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import uuid
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from confide.core.errors import SealedStreamCorrupt
from confide.crypto.keyring import Keyring
from confide.crypto.streams import HEADER_BYTES

BACKUP_KEY_NAMESPACE = uuid.UUID("8f0c6c1e-3d7a-4a55-9a38-0b5d2f1c9e41")
GZIP_WBITS = 31  # zlib's gzip container
COMPRESS_LEVEL = 3  # faster than gzip -6, nearly as small on database pages
Progress = Callable[[int], None]  # bytes done so far


def backup_key_id(backup_id: str) -> uuid.UUID:
    return uuid.uuid5(BACKUP_KEY_NAMESPACE, f"backup:{backup_id}")


async def compress(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    packer = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, GZIP_WBITS)
    async for chunk in chunks:
        out = packer.compress(chunk)
        if out:
            yield out
    yield packer.flush()


async def decompress(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Inflate in a worker thread (zlib lets go of the GIL while it works): a verify inflates
    several openings of a dump at once while its event loop walks the audit chains."""
    unpacker = zlib.decompressobj(GZIP_WBITS)
    async for chunk in chunks:
        out = await asyncio.to_thread(unpacker.decompress, chunk)
        if out:
            yield out
    tail = unpacker.flush()
    if tail:
        yield tail
    if not unpacker.eof:
        raise SealedStreamCorrupt("The backup's compressed stream is cut off.", -1)


async def seal_hashed(
    keyring: Keyring,
    backup_id: str,
    chunks: AsyncIterable[bytes],
    hashes: list[str],
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """Seal ``chunks`` under the backup's key; append the SHA-256 of each sealed chunk (its
    length prefix and ciphertext) to ``hashes`` as it goes."""
    done = 0
    first = True
    sealed = keyring.seal_stream(None, backup_key_id(backup_id), chunks, f"backup:{backup_id}")
    async for piece in sealed:
        if not first:  # the first piece is the stream header, not a chunk
            hashes.append(hashlib.sha256(piece).hexdigest())
        first = False
        done += len(piece)
        if progress is not None:
            progress(done)
        yield piece


async def checked_frames(
    blob: AsyncIterable[bytes], hashes: list[str], progress: Progress | None = None
) -> AsyncIterator[bytes]:
    """Pass a sealed blob through, checking each chunk against the manifest's SHA-256 list;
    raises ``SealedStreamCorrupt`` naming the first chunk that differs or is extra/missing."""
    buffer = bytearray()
    index = -1  # the header comes first
    done = 0
    async for data in blob:
        buffer += data
        while True:
            if index < 0:
                if len(buffer) < HEADER_BYTES:
                    break
                frame = bytes(buffer[:HEADER_BYTES])
            else:
                if len(buffer) < 4:
                    break
                (length,) = struct.unpack(">I", buffer[:4])
                if len(buffer) < 4 + length:
                    break
                frame = bytes(buffer[: 4 + length])
                if index >= len(hashes) or hashlib.sha256(frame).hexdigest() != hashes[index]:
                    raise SealedStreamCorrupt(
                        f"Chunk {index} does not match its SHA-256 in the manifest.", index
                    )
            del buffer[: len(frame)]
            index += 1
            done += len(frame)
            if progress is not None:
                progress(done)
            yield frame
    if buffer or index < len(hashes):
        raise SealedStreamCorrupt(f"The backup ends early, at chunk {max(index, 0)}.", index)


async def open_backup_stream(
    keyring: Keyring, backup_id: str, frames: AsyncIterable[bytes]
) -> AsyncIterator[bytes]:
    """The plaintext (still compressed) of a sealed backup blob."""
    async for plain in keyring.open_stream(
        None, backup_key_id(backup_id), frames, f"backup:{backup_id}"
    ):
        yield plain


async def seal_manifest(keyring: Keyring, backup_id: str, manifest: dict[str, Any]) -> bytes:
    async def one() -> AsyncIterator[bytes]:
        yield json.dumps(manifest, sort_keys=True).encode()

    aad = f"backup-manifest:{backup_id}"
    return b"".join(
        [c async for c in keyring.seal_stream(None, backup_key_id(backup_id), one(), aad)]
    )


async def open_manifest(keyring: Keyring, backup_id: str, sealed: bytes) -> dict[str, Any]:
    """Raises ``KeyUnavailable`` (no such key here) or ``SealedStreamCorrupt`` (altered)."""

    async def one() -> AsyncIterator[bytes]:
        yield sealed

    aad = f"backup-manifest:{backup_id}"
    plain = b"".join(
        [c async for c in keyring.open_stream(None, backup_key_id(backup_id), one(), aad)]
    )
    manifest: dict[str, Any] = json.loads(plain)
    return manifest
