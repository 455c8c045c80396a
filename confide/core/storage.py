"""A small blob storage interface: named byte streams, written atomically.

Backups and attachments keep bytes outside the database. Both go through :class:`BlobStore`, so
a second backend (an object store) can be added behind the same five calls once a real one can be
tested here. The only backend shipped is :class:`LocalDirectoryStore`, a directory on local disk.

What a backend promises:

- ``put`` is atomic: a reader sees the whole blob or none of it (a crash mid-write leaves only a
  hidden temporary file, which ``put`` of the same key later replaces and ``list`` never shows).
- The store never sees plaintext personal data: callers encrypt before ``put`` (AES-256-GCM
  under a key from the keyring), so the store itself needs no access control beyond the
  operating system's (files 0600, directories 0700).
- Keys are slash-separated relative names of safe segments (``[A-Za-z0-9._-]``, no ``..``, no
  leading dot); anything else raises :class:`ValueError` before touching the disk.
"""

from __future__ import annotations

import builtins
import os
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import anyio

READ_CHUNK_BYTES = 256 * 1024
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """One stored blob: its key, size in bytes and last modification time (UTC)."""

    key: str
    size_bytes: int
    modified_at: datetime


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative name, else raise :class:`ValueError`."""
    parts = key.split("/")
    if not key or len(key) > 1000 or not all(_SEGMENT.match(part) for part in parts):
        raise ValueError(
            "A storage key is a slash-separated name of letters, digits, '.', '_' and '-' "
            "segments that do not start with a dot."
        )
    return key


class BlobStore(ABC):
    """Where named byte streams live (backups, attachments). See the module docstring."""

    @abstractmethod
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the stream under ``key`` atomically (replacing any old blob); return its size
        in bytes. Raises ``ValueError`` for a bad key, ``OSError`` when the disk refuses."""

    @abstractmethod
    def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        """Yield the blob's bytes in chunks of at most ``chunk_bytes``. Raises
        ``FileNotFoundError`` when there is no such blob."""

    @abstractmethod
    async def info(self, key: str) -> BlobInfo | None:
        """The blob's size and time, or None when it does not exist."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the blob; True if it existed. Deleting a missing blob is not an error."""

    @abstractmethod
    async def list(self, prefix: str = "") -> list[BlobInfo]:
        """Every blob whose key starts with ``prefix`` (a key prefix, not a glob), sorted by key."""


class LocalDirectoryStore(BlobStore):
    """Blobs as files under ``root`` (created 0700; files 0600), written by temp file + rename.

    File I/O runs in a worker thread so the event loop never waits on the disk.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self._path(key)
        await anyio.to_thread.run_sync(_make_dirs, path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
        fd = await anyio.to_thread.run_sync(
            lambda: os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        )
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    await anyio.to_thread.run_sync(handle.write, chunk)
                await anyio.to_thread.run_sync(_flush_and_sync, handle)
            await anyio.to_thread.run_sync(os.replace, tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size

    async def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        path = self._path(key)
        handle = await anyio.to_thread.run_sync(path.open, "rb")
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, chunk_bytes):
                yield chunk
        finally:
            handle.close()

    async def info(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        try:
            stat = await anyio.to_thread.run_sync(path.stat)
        except FileNotFoundError:
            return None
        return BlobInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            await anyio.to_thread.run_sync(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def list(self, prefix: str = "") -> list[BlobInfo]:
        return await anyio.to_thread.run_sync(self._list_sync, prefix)

    def _list_sync(self, prefix: str) -> builtins.list[BlobInfo]:
        if not self.root.is_dir():
            return []
        found: builtins.list[BlobInfo] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue  # temporary files of an unfinished put
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    found.append(
                        BlobInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
                    )
        return sorted(found, key=lambda blob: blob.key)


def _make_dirs(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _flush_and_sync(handle: object) -> None:
    handle.flush()  # type: ignore[attr-defined]
    os.fsync(handle.fileno())  # type: ignore[attr-defined]
