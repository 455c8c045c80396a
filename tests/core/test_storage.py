"""The local directory blob store: atomic puts, safe keys, private files."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.core.storage import LocalDirectoryStore


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _read_all(store: LocalDirectoryStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, chunk_bytes=3)])


async def test_put_then_read_round_trips_the_bytes_in_chunks(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "blobs")
    size = await store.put("a/b/c.bin", _chunks(b"hello ", b"world"))
    assert size == 11
    assert await _read_all(store, "a/b/c.bin") == b"hello world"
    info = await store.info("a/b/c.bin")
    assert info is not None and info.size_bytes == 11


async def test_files_are_private_to_the_owner(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "blobs")
    await store.put("x/y.bin", _chunks(b"1"))
    assert stat.S_IMODE((tmp_path / "blobs" / "x" / "y.bin").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "blobs" / "x").stat().st_mode) == 0o700


async def test_a_failed_put_leaves_neither_blob_nor_temporary_file(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "blobs")
    await store.put("k.bin", _chunks(b"old"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"new-partial"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("k.bin", broken())
    assert await _read_all(store, "k.bin") == b"old"
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == ["k.bin"]


@pytest.mark.parametrize("key", ["", "../escape", "a/../b", ".hidden", "a//b", "/abs", "a b"])
async def test_unsafe_keys_are_refused_before_touching_the_disk(tmp_path: Path, key: str) -> None:
    store = LocalDirectoryStore(tmp_path / "blobs")
    with pytest.raises(ValueError):
        await store.put(key, _chunks(b"x"))
    assert not (tmp_path / "blobs").exists()


async def test_list_filters_by_prefix_and_delete_reports_existence(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "blobs")
    assert await store.list() == []
    for key in ("b/2", "a/1", "b/1"):
        await store.put(key, _chunks(key.encode()))
    assert [blob.key for blob in await store.list("b/")] == ["b/1", "b/2"]
    assert await store.delete("b/1") is True
    assert await store.delete("b/1") is False
    assert await store.info("b/1") is None
    assert [blob.key for blob in await store.list()] == ["a/1", "b/2"]
    with pytest.raises(FileNotFoundError):
        await _read_all(store, "b/1")
