"""Sealed streams: AES-256-GCM over a byte stream in authenticated chunks.

Backups and attachments can be far larger than memory, so they are sealed chunk by chunk, in
the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár ("Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015), as Tink and age
do: each chunk is its own AES-GCM message whose 96-bit nonce is a random 7-byte stream prefix,
the 4-byte big-endian chunk counter and a 1-byte "last chunk" flag. So a reader detects a flipped
byte (that chunk fails), reordered or repeated chunks (the counter is in the nonce), a cut-off
end (no chunk carries the last flag) and chunks spliced in from another stream (another prefix),
and names the first chunk that failed.

Layout: ``b"CFS1"`` + prefix (7 bytes), then per chunk: ciphertext length (4 bytes, big-endian)
+ ciphertext (plaintext chunk + 16-byte tag). ``aad`` binds the stream to its record (e.g.
``attachment:<id>`` or ``backup:<id>``): a sealed blob copied under another record does not open.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import AsyncIterable, AsyncIterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from confide.core.errors import SealedStreamCorrupt

MAGIC = b"CFS1"
PREFIX_BYTES = 7
HEADER_BYTES = len(MAGIC) + PREFIX_BYTES
TAG_BYTES = 16
CHUNK_BYTES = 64 * 1024
MAX_CHUNKS = 2**32 - 1


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


async def _rechunk(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Yield the stream in pieces of exactly ``size`` bytes (the last may be shorter; an empty
    stream yields one empty piece, so even nothing is sealed and authenticated)."""
    buffer = bytearray()
    sent = False
    async for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
            sent = True
    if buffer or not sent:
        yield bytes(buffer)


async def seal_stream(
    key: bytes, chunks: AsyncIterable[bytes], aad: bytes, chunk_bytes: int = CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """Seal ``chunks`` (any sizes) under the 32-byte ``key``; yield the sealed stream.

    Memory use is about two chunks of ``chunk_bytes`` whatever the stream's length. Raises
    ``ValueError`` for a stream of more than 2^32 - 1 chunks.
    """
    aead = AESGCM(key)
    prefix = secrets.token_bytes(PREFIX_BYTES)
    yield MAGIC + prefix
    index = 0
    pending: bytes | None = None
    async for piece in _rechunk(chunks, chunk_bytes):
        if pending is not None:
            yield _sealed_chunk(aead, prefix, index, pending, aad, last=False)
            index += 1
            if index >= MAX_CHUNKS:
                raise ValueError("The stream is too long to seal (more than 2^32 - 1 chunks).")
        pending = piece
    yield _sealed_chunk(aead, prefix, index, pending or b"", aad, last=True)


def _sealed_chunk(
    aead: AESGCM, prefix: bytes, index: int, plain: bytes, aad: bytes, *, last: bool
) -> bytes:
    sealed = aead.encrypt(_nonce(prefix, index, last), plain, aad)
    return struct.pack(">I", len(sealed)) + sealed


async def open_stream(key: bytes, sealed: AsyncIterable[bytes], aad: bytes) -> AsyncIterator[bytes]:
    """Open a stream made by :func:`seal_stream`; yield the plaintext chunk by chunk.

    Each chunk is yielded only after its tag verified, but a consumer may have used earlier
    chunks before a later one fails: treat the output as trusted only once the iterator ends.
    Raises :class:`SealedStreamCorrupt` (with ``chunk_index``) on a flipped byte, a wrong key or
    ``aad``, reordered or missing chunks, a cut-off end or trailing bytes.
    """
    aead = AESGCM(key)
    buffer = bytearray()
    prefix: bytes | None = None
    index = 0
    finished = False
    async for data in sealed:
        buffer += data
        if prefix is None:
            if len(buffer) < HEADER_BYTES:
                continue
            if bytes(buffer[: len(MAGIC)]) != MAGIC:
                raise SealedStreamCorrupt("This is not a Confide sealed stream.", 0)
            prefix = bytes(buffer[len(MAGIC) : HEADER_BYTES])
            del buffer[:HEADER_BYTES]
        while len(buffer) >= 4:
            (length,) = struct.unpack(">I", buffer[:4])
            if length < TAG_BYTES or length > CHUNK_BYTES * 64 + TAG_BYTES:
                raise SealedStreamCorrupt(f"Chunk {index} has an impossible length.", index)
            if len(buffer) < 4 + length:
                break
            if finished:
                raise SealedStreamCorrupt(f"Bytes follow the last chunk ({index - 1}).", index)
            body = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            plain, finished = _open_chunk(aead, prefix, index, body, aad)
            yield plain
            index += 1
    if prefix is None:
        raise SealedStreamCorrupt("The sealed stream is cut off before its header.", 0)
    if buffer:
        raise SealedStreamCorrupt(f"Chunk {index} is cut off.", index)
    if not finished:
        raise SealedStreamCorrupt(
            f"The stream ends after chunk {index - 1} without its last chunk.", index
        )


def _open_chunk(
    aead: AESGCM, prefix: bytes, index: int, body: bytes, aad: bytes
) -> tuple[bytes, bool]:
    # A chunk that authenticates as "last" ends the stream; try "not last" first (the usual case).
    for last in (False, True):
        try:
            return aead.decrypt(_nonce(prefix, index, last), body, aad), last
        except InvalidTag:
            continue
    raise SealedStreamCorrupt(
        f"Chunk {index} does not authenticate: altered, out of place, or the wrong key.", index
    )
