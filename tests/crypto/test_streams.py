"""Sealed streams: round trips, and every kind of tampering is caught and names its chunk."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from confide.core.errors import SealedStreamCorrupt
from confide.crypto.streams import HEADER_BYTES, seal_stream
from confide.crypto.streams import open_stream as open_sealed_stream

KEY = bytes(range(32))


async def _stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _seal(data: bytes, chunk_bytes: int = 8, aad: bytes = b"test:1") -> bytes:
    pieces = [p async for p in seal_stream(KEY, _stream(data), aad, chunk_bytes=chunk_bytes)]
    return b"".join(pieces)


async def _open(sealed: bytes, key: bytes = KEY, aad: bytes = b"test:1", feed: int = 5) -> bytes:
    parts = [sealed[i : i + feed] for i in range(0, len(sealed), feed)]
    return b"".join([p async for p in open_sealed_stream(key, _stream(*parts), aad)])


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 64, 1000])
async def test_any_length_round_trips(size: int) -> None:
    data = secrets.token_bytes(size)
    assert await _open(await _seal(data)) == data


async def test_a_flipped_byte_fails_naming_its_chunk() -> None:
    sealed = bytearray(await _seal(b"a" * 40))  # 5 chunks of 8 bytes, 28 bytes sealed each
    chunk = 2
    sealed[HEADER_BYTES + chunk * 28 + 10] ^= 0x01
    with pytest.raises(SealedStreamCorrupt) as caught:
        await _open(bytes(sealed))
    assert caught.value.chunk_index == chunk


async def test_a_cut_off_end_is_detected() -> None:
    sealed = await _seal(b"b" * 40)
    with pytest.raises(SealedStreamCorrupt) as caught:
        await _open(sealed[: HEADER_BYTES + 3 * 28])
    assert caught.value.chunk_index == 3


async def test_swapped_chunks_and_wrong_key_or_record_fail() -> None:
    sealed = await _seal(b"0123456789abcdef")
    body = sealed[HEADER_BYTES:]
    swapped = sealed[:HEADER_BYTES] + body[28:56] + body[:28] + body[56:]
    for bad, key, aad in (
        (swapped, KEY, b"test:1"),
        (sealed, bytes(32), b"test:1"),
        (sealed, KEY, b"test:2"),
    ):
        with pytest.raises(SealedStreamCorrupt) as caught:
            await _open(bad, key=key, aad=aad)
        assert caught.value.chunk_index == 0


async def test_trailing_bytes_after_the_last_chunk_are_refused() -> None:
    sealed = await _seal(b"xyz")
    extra = await _seal(b"more")
    with pytest.raises(SealedStreamCorrupt):
        await _open(sealed + extra[HEADER_BYTES:])
