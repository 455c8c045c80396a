"""Master-key providers: the root of the key hierarchy, behind one small interface.

A provider wraps and unwraps workspace key-encryption keys; the master key itself never leaves
it. ``LocalKeyProvider`` keeps a 32-byte key in ``data_dir/master.key`` (mode 0600, created on
first run) or takes it from ``CONFIDE_MASTER_KEY`` (base64). A KMS or HSM provider implements
the same three members.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from abc import ABC, abstractmethod
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
        """Identifies the master key that wraps, so rotation knows what to re-wrap."""

    @abstractmethod
    def wrap(self, key: bytes, context: bytes) -> bytes: ...

    @abstractmethod
    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


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


class LocalKeyProvider(KeyProvider):
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError("The master key must be exactly 32 bytes.")
        self._key = master_key
        self._id = hashlib.sha256(b"confide-master-key-id:" + master_key).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        return self._id

    def wrap(self, key: bytes, context: bytes) -> bytes:
        return seal(self._key, key, b"kek:" + context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        return open_sealed(self._key, wrapped, b"kek:" + context)

    @classmethod
    def from_environment_or_file(cls, env_value: str | None, path: Path) -> LocalKeyProvider:
        if env_value:
            return cls(base64.b64decode(env_value))
        return cls(read_or_create_key_file(path))
