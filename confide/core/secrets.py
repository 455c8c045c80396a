"""The instance secret and the keyed hashes derived from it.

One random 32-byte secret per installation signs access tokens and keys the hashes under
which refresh tokens, recovery codes, API keys and blind indexes are stored. It lives in
``data_dir/instance.key`` (mode 0600, created on first run) or in ``CONFIDE_SECRET_KEY``, never
in the database, so a copy of the database alone can neither forge a token nor test guesses
against a stored hash. Every purpose gets its own derived key so that one hash can never be
replayed as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from confide.core.config import Settings

INSTANCE_KEY_FILE = "instance.key"
INSTANCE_KEY_BYTES = 32
# Keyed hashes prepared per purpose (the message path hashes every word of every message
# under its workspace's search purpose); beyond this many purposes the memo starts again.
PREPARED_PURPOSES = 4096


class InstanceSecret:
    def __init__(self, key: bytes) -> None:
        if len(key) < INSTANCE_KEY_BYTES:
            raise ValueError("The instance secret must be at least 32 bytes long.")
        self._key = key
        self._prepared: dict[str, hmac.HMAC] = {}

    def derive(self, purpose: str) -> bytes:
        """A sub-key for one purpose (HMAC-SHA256 of the purpose under the instance key)."""
        return hmac.new(self._key, b"confide:" + purpose.encode(), hashlib.sha256).digest()

    def keyed_hash(self, purpose: str, value: str | bytes) -> str:
        """HMAC-SHA256 of ``value`` under the purpose's sub-key, hex (64 characters)."""
        data = value.encode() if isinstance(value, str) else value
        prepared = self._prepared.get(purpose)
        if prepared is None:
            if len(self._prepared) >= PREPARED_PURPOSES:
                self._prepared.clear()
            prepared = self._prepared[purpose] = hmac.new(self.derive(purpose), None, "sha256")
        keyed = prepared.copy()  # the key's inner and outer pads are already absorbed
        keyed.update(data)
        return keyed.hexdigest()


def load_instance_secret(settings: Settings) -> InstanceSecret:
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().encode()
        return InstanceSecret(hashlib.sha256(raw).digest() if len(raw) < 64 else raw)
    path = settings.data_dir / INSTANCE_KEY_FILE
    return InstanceSecret(read_or_create_key_file(path))


def read_or_create_key_file(path: Path, size: int = INSTANCE_KEY_BYTES) -> bytes:
    """Read a base64 key file, or create it with ``size`` random bytes, mode 0600."""
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(size)
    # Write a private temporary file, then link it into place: link() fails if another process
    # won the race, and nobody ever reads a half-written key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return base64.b64decode(path.read_text().strip())
    finally:
        tmp.unlink()
    return key
