"""Master-key providers: the root of the key hierarchy, behind one small interface.

A provider wraps and unwraps workspace key-encryption keys; the master key itself never leaves
it. ``LocalKeyProvider`` keeps 32-byte keys in ``data_dir/master.key`` (mode 0600, created on
first run) or takes one from ``CONFIDE_MASTER_KEY`` (base64). A KMS or HSM provider implements
the same members.

**Epochs** (crypto-shredding that holds against copies of the key store): the master key file
holds one key per line, oldest first; the last line is the current epoch, which wraps every new
KEK. After erasures the keyring starts a new epoch (:meth:`KeyProvider.advance_epoch`), rotates
or re-wraps every KEK under it, then :meth:`KeyProvider.destroy_old_epochs` rewrites the file
without the older keys and overwrites the old file's bytes. A copy of the key store taken
before (its rows, WAL, dumps) holds KEKs wrapped only under destroyed epochs. This is real
destruction only where the key lives in a file Confide may rewrite (or a KMS): a key given in
``CONFIDE_MASTER_KEY`` cannot be destroyed, so ``can_destroy_epochs`` is False there.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from confide.core.errors import KeyUnavailable
from confide.core.secrets import read_or_create_key_file

KEY_BYTES = 32
NONCE_BYTES = 12
MASTER_KEY_FILE = "master.key"


class KeyProvider(ABC):
    @property
    @abstractmethod
    def key_id(self) -> str:
        """Identifies the master key (epoch) that wraps now, so rotation knows what to
        re-wrap; stored beside every wrapped KEK."""

    @abstractmethod
    def wrap(self, key: bytes, context: bytes) -> bytes:
        """Wrap under the current master key."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, context: bytes, key_id: str | None = None) -> bytes:
        """Unwrap with the master key ``key_id`` (any known one when None). Raises
        ``KeyUnavailable`` when that key was destroyed or the bytes do not match."""

    @property
    def can_destroy_epochs(self) -> bool:
        """True when old master keys can be destroyed for real (see the module doc)."""
        return False

    def advance_epoch(self) -> str:
        """Start a new epoch; returns its key id. Raises ``KeyUnavailable`` if unsupported."""
        raise KeyUnavailable("This master key cannot start a new epoch.")

    def destroy_old_epochs(self) -> int:
        """Destroy every master key but the current one; returns how many were destroyed."""
        raise KeyUnavailable("This master key cannot destroy old epochs.")


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + 16:
        raise KeyUnavailable("The ciphertext is truncated.")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise KeyUnavailable("The ciphertext does not match its key or its record.") from exc


def master_key_id(master_key: bytes) -> str:
    return hashlib.sha256(b"confide-master-key-id:" + master_key).hexdigest()[:16]


class LocalKeyProvider(KeyProvider):
    """Master keys in memory, from a file (epochs: one base64 key per line, current last) or
    from one fixed key. ``path`` set means the file is the source of truth: a key id this
    process does not know is looked up again there (another process may have advanced)."""

    def __init__(self, master_key: bytes | list[bytes], path: Path | None = None) -> None:
        keys = master_key if isinstance(master_key, list) else [master_key]
        if not keys or any(len(key) != KEY_BYTES for key in keys):
            raise ValueError("The master key must be exactly 32 bytes.")
        self._keys = {master_key_id(key): key for key in keys}
        self._current = master_key_id(keys[-1])
        self._path = path
        self._lock = threading.Lock()
        self._seen = _stamp(path)

    @property
    def key_id(self) -> str:
        return self._current

    @property
    def known_key_ids(self) -> list[str]:
        return list(self._keys)

    @property
    def can_destroy_epochs(self) -> bool:
        return self._path is not None

    def wrap(self, key: bytes, context: bytes) -> bytes:
        if self._path is not None and _stamp(self._path) != self._seen:
            self.reload()  # another process started an epoch: never wrap under an old one
        return seal(self._keys[self._current], key, b"kek:" + context)

    def unwrap(self, wrapped: bytes, context: bytes, key_id: str | None = None) -> bytes:
        if key_id is not None and key_id not in self._keys:
            self.reload()
        if key_id is not None:
            master = self._keys.get(key_id)
            if master is None:
                raise KeyUnavailable("The master key that wrapped this key was destroyed.")
            return open_sealed(master, wrapped, b"kek:" + context)
        for master in reversed(list(self._keys.values())):
            try:
                return open_sealed(master, wrapped, b"kek:" + context)
            except KeyUnavailable:
                continue
        raise KeyUnavailable("No master key this process knows unwraps this key.")

    def reload(self) -> None:
        """Read the file again (another process may have started or ended an epoch)."""
        if self._path is None or not self._path.exists():
            return
        with self._lock:
            self._seen = _stamp(self._path)
            keys = _read_keys(self._path)
            self._keys = {master_key_id(key): key for key in keys}
            self._current = master_key_id(keys[-1])

    def advance_epoch(self) -> str:
        if self._path is None:
            raise KeyUnavailable(
                "A master key from CONFIDE_MASTER_KEY cannot start a new epoch; use the master "
                "key file."
            )
        with _file_lock(self._path):
            keys = _read_keys(self._path)
            keys.append(secrets.token_bytes(KEY_BYTES))
            _replace_file(self._path, keys)
        self.reload()
        return self._current

    def destroy_old_epochs(self) -> int:
        if self._path is None:
            raise KeyUnavailable("A master key from CONFIDE_MASTER_KEY cannot be destroyed.")
        with _file_lock(self._path):
            keys = _read_keys(self._path)
            if len(keys) > 1:
                _replace_file(self._path, keys[-1:])
        self.reload()
        return len(keys) - 1

    @classmethod
    def from_environment_or_file(cls, env_value: str | None, path: Path) -> LocalKeyProvider:
        if env_value:
            return cls(base64.b64decode(env_value))
        read_or_create_key_file(path)
        return cls(_read_keys(path), path)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_ino, info.st_mtime_ns


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Processes that change the key file (a worker, the command line) take turns."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_keys(path: Path) -> list[bytes]:
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [base64.b64decode(line) for line in lines]


def _replace_file(path: Path, keys: list[bytes]) -> None:
    """Atomically replace the key file, then overwrite the old file's bytes in place (through
    a descriptor held across the rename) so the destroyed keys do not stay in its blocks.
    A crash at any point leaves a complete file: the old one or the new one."""
    content = "".join(base64.b64encode(key).decode() + "\n" for key in keys).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    old = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(old).st_size
        os.replace(tmp, path)
        os.pwrite(old, b"\0" * size, 0)
        os.fsync(old)
    finally:
        os.close(old)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
