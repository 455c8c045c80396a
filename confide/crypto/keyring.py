"""The keyring: AES-256-GCM envelope encryption with crypto-shredding.

Hierarchy: the master key (a ``KeyProvider``) wraps one key-encryption key (KEK) per workspace
and version; each KEK wraps data keys (DEKs), one per data subject and one per conversation;
DEKs encrypt fields. Every ciphertext is bound to its record through the associated data
(``aad``: table, row id and field), so a ciphertext copied to another row does not decrypt.

- Creating a key is compare-and-set in the key store: two nodes racing both end up using the
  key that was stored, never one that was lost.
- Rotation (``rotate_workspace``) makes a new KEK version, re-wraps every DEK under it, then
  destroys the old KEK. Bodies are not re-encrypted and readers keep working throughout: each
  DEK row names the KEK version that wraps it.
- Destroying a DEK makes everything encrypted under it unreadable everywhere, including in
  backups of the data (which never contain keys).

- Archiving (``archive_keys``, retention's restricted archive) moves data keys out of the live
  table and re-wraps them under the workspace's *archive* KEK. They open only inside
  ``with keyring.archive_access():`` (a context variable, so it holds for the task that entered
  it and nothing else): a normal read path cannot decrypt archived data even if a policy check
  above it had a bug. Archived keys are never cached; destroying them works as for live keys.

Unwrapped keys are cached in memory for ``CACHE_SECONDS`` so a busy conversation does not hit
the key store for every message; ``forget`` evicts at once (called on destruction).
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from confide.core.errors import KeyStillPresent, KeyUnavailable
from confide.crypto import streams
from confide.crypto.keystore import KeyStore
from confide.crypto.providers import KEY_BYTES, KeyProvider, open_sealed, seal

TOKEN_PREFIX = "ck1:"
CACHE_SECONDS = 60.0
CACHE_MAX_KEYS = 10_000
REWRAP_BATCH_SIZE = 500  # data keys re-wrapped per key-store transaction during rotation
ROTATION_ATTEMPTS = 5  # rounds to catch keys other nodes create under the old KEK meanwhile

# True only inside ``Keyring.archive_access()``: the custodian context of the current task.
_ARCHIVE_ACCESS: ContextVar[bool] = ContextVar("confide_archive_access", default=False)


@dataclass(frozen=True)
class RotationReport:
    workspaces: int
    data_keys_rewrapped: int


class Keyring:
    def __init__(self, provider: KeyProvider, store: KeyStore) -> None:
        self.provider = provider
        self.store = store
        self._cache: dict[str, tuple[float, bytes]] = {}
        # False while this node could miss another node's destruction notice (its broker
        # watcher is not subscribed): then no data key is cached (confide.privacy.key_cache).
        self.dek_cache_enabled = True

    # -- cache ----------------------------------------------------------------------------

    def _cached(self, name: str) -> bytes | None:
        hit = self._cache.get(name)
        if hit is None or hit[0] < time.monotonic():
            self._cache.pop(name, None)
            return None
        return hit[1]

    def _remember(self, name: str, key: bytes) -> None:
        if len(self._cache) >= CACHE_MAX_KEYS:
            self._cache.clear()
        self._cache[name] = (time.monotonic() + CACHE_SECONDS, key)

    def forget_many(self, key_ids: Iterable[str]) -> None:
        for key_id in key_ids:
            self._cache.pop(f"dek:{key_id}", None)

    def forget(self, key_id: str | None = None) -> None:
        if key_id is None:
            self._cache.clear()
        else:
            self._cache.pop(f"dek:{key_id}", None)

    # -- workspace KEKs -------------------------------------------------------------------

    async def _kek(self, workspace_id: str, version: int | None = None) -> tuple[int, bytes]:
        """A KEK of the workspace: the given version, or the newest (created when missing)."""
        if version is not None:
            cached = self._cached(f"kek:{workspace_id}:{version}")
            if cached is not None:
                return version, cached
        keys = await self.store.workspace_keys(workspace_id)
        if not keys:
            fresh = secrets.token_bytes(KEY_BYTES)
            wrapped = self.provider.wrap(fresh, f"{workspace_id}:1".encode())
            await self.store.add_workspace_key(workspace_id, 1, self.provider.key_id, wrapped)
            keys = await self.store.workspace_keys(workspace_id)
        chosen = version if version is not None else max(keys)
        row = keys.get(chosen)
        if row is None:
            raise KeyUnavailable("The workspace key version is gone.")
        context = f"{workspace_id}:{chosen}".encode()
        kek = self.provider.unwrap(row.wrapped, context, row.master_key_id)
        self._remember(f"kek:{workspace_id}:{chosen}", kek)
        return chosen, kek

    # -- data keys --------------------------------------------------------------------------

    async def _dek(
        self, workspace_id: str | None, key_id: str, *, create: bool, skip_cache: bool = False
    ) -> bytes:
        cached = None if skip_cache else self._cached(f"dek:{key_id}")
        if cached is not None:
            return cached
        row = await self.store.data_key(key_id)
        if row is None and not create and _ARCHIVE_ACCESS.get():
            # Archived data is read-only: writers (create=True) never get an archived key.
            return await self._archived_dek(workspace_id, key_id)
        if row is None:
            if not create or workspace_id is None:
                raise KeyUnavailable(
                    "This data has been erased or archived: no live key exists for it."
                )
            version, kek = await self._kek(workspace_id)
            fresh = secrets.token_bytes(KEY_BYTES)
            wrapped = seal(kek, fresh, f"dek:{key_id}".encode())
            row = await self.store.add_data_key(key_id, workspace_id, version, wrapped)
        if workspace_id is not None and row.workspace_id != workspace_id:
            raise KeyUnavailable("The data key belongs to another workspace.")
        _, kek = await self._kek(row.workspace_id, row.kek_version)
        dek = open_sealed(kek, row.wrapped, f"dek:{key_id}".encode())
        if self.dek_cache_enabled:
            self._remember(f"dek:{key_id}", dek)
        return dek

    async def encrypt(
        self, workspace_id: uuid.UUID | None, key_id: uuid.UUID, plaintext: str, aad: str
    ) -> str:
        dek = await self._dek(_ws(workspace_id), str(key_id), create=True)
        return _token(dek, plaintext, aad)

    def encrypt_cached(self, key_id: uuid.UUID, plaintext: str, aad: str) -> str | None:
        """:meth:`encrypt` under a data key this process holds already, or None (no I/O, for
        work that cannot wait for the key store: ``confide.chat.batched_send``). The caller has
        the key's workspace checked where the data is written (the cache holds only keys that
        passed that check when loaded)."""
        dek = self._cached(f"dek:{key_id}")
        return None if dek is None else _token(dek, plaintext, aad)

    async def decrypt(
        self,
        workspace_id: uuid.UUID | None,
        key_id: uuid.UUID,
        token: str,
        aad: str,
        *,
        any_workspace: bool = False,
        fresh: bool = False,
    ) -> str:
        """Raises ``KeyUnavailable`` if the key was destroyed or the ciphertext was moved.
        ``any_workspace`` skips the check that the key belongs to ``workspace_id`` (for callers
        that know the record but not its workspace; the AAD still binds the record);
        ``fresh`` reads the key from the key store, not this process's cache."""
        if not token.startswith(TOKEN_PREFIX):
            raise KeyUnavailable("Not a Confide ciphertext.")
        sealed = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :])
        expected = None if any_workspace else _ws(workspace_id)
        dek = await self._dek(expected, str(key_id), create=False, skip_cache=fresh)
        return open_sealed(dek, sealed, aad.encode()).decode()

    async def seal_stream(
        self,
        workspace_id: uuid.UUID | None,
        key_id: uuid.UUID,
        chunks: AsyncIterable[bytes],
        aad: str,
    ) -> AsyncIterator[bytes]:
        """Seal a byte stream (attachment, backup) under the data key ``key_id`` (created if it
        does not exist yet) in authenticated chunks (confide.crypto.streams). Raises
        ``KeyUnavailable`` if the key was destroyed."""
        dek = await self._dek(_ws(workspace_id), str(key_id), create=True)
        async for sealed in streams.seal_stream(dek, chunks, aad.encode()):
            yield sealed

    async def open_stream(
        self,
        workspace_id: uuid.UUID | None,
        key_id: uuid.UUID,
        sealed: AsyncIterable[bytes],
        aad: str,
    ) -> AsyncIterator[bytes]:
        """Open a stream sealed by :meth:`seal_stream`. Raises ``KeyUnavailable`` if the key was
        destroyed and ``SealedStreamCorrupt`` (naming the chunk) if the stream was altered."""
        dek = await self._dek(_ws(workspace_id), str(key_id), create=False)
        async for plain in streams.open_stream(dek, sealed, aad.encode()):
            yield plain

    async def destroy(self, key_id: uuid.UUID) -> bool:
        """Crypto-shred: destroy the data key; every copy of its data becomes unreadable."""
        return await self.destroy_many([str(key_id)]) == 1

    async def destroy_many(self, key_ids: Iterable[str]) -> int:
        """Crypto-shred many data keys in one purge; their ids are tombstoned and ``encrypt``
        refuses them from then on (``KeyErased``). Returns how many keys existed."""
        ids = list(key_ids)
        self.forget_many(ids)
        count = await self.store.destroy_data_keys(ids)
        self.forget_many(ids)  # a reader may have cached one while the purge ran
        return count

    # -- the restricted archive -----------------------------------------------------------

    @contextmanager
    def archive_access(self) -> Iterator[None]:
        """The custodian context: inside it (and only in the task that entered it) archived
        data keys open, and :meth:`restore_keys` may run. The caller checks the custodian's
        permission and reason and audits the opening; the keyring only enforces that no
        read outside this block reaches an archived key."""
        token = _ARCHIVE_ACCESS.set(True)
        try:
            yield
        finally:
            _ARCHIVE_ACCESS.reset(token)

    async def _archive_kek(
        self, workspace_id: str, version: int | None = None, *, create: bool = False
    ) -> tuple[int, bytes]:
        """An archive KEK of the workspace: the given version, or the newest (created when
        missing and ``create``). Archive KEKs are never cached."""
        keys = await self.store.archive_keys_of(workspace_id)
        if not keys and create:
            fresh = secrets.token_bytes(KEY_BYTES)
            wrapped = self.provider.wrap(fresh, _archive_context(workspace_id, 1))
            await self.store.add_archive_key(workspace_id, 1, self.provider.key_id, wrapped)
            keys = await self.store.archive_keys_of(workspace_id)
        chosen = version if version is not None else max(keys, default=0)
        row = keys.get(chosen)
        if row is None:
            raise KeyUnavailable("The workspace's archive key version is gone.")
        context = _archive_context(workspace_id, chosen)
        return chosen, self.provider.unwrap(row.wrapped, context, row.master_key_id)

    async def _archived_dek(self, workspace_id: str | None, key_id: str) -> bytes:
        row = await self.store.archived_data_key(key_id)
        if row is None:
            raise KeyUnavailable("This data has been erased: its key no longer exists.")
        if workspace_id is not None and row.workspace_id != workspace_id:
            raise KeyUnavailable("The data key belongs to another workspace.")
        _, archive_kek = await self._archive_kek(row.workspace_id, row.archive_version)
        return open_sealed(archive_kek, row.wrapped, f"archived-dek:{key_id}".encode())

    async def archive_keys(self, workspace_id: str, key_ids: Iterable[str]) -> int:
        """Move live data keys of the workspace into the restricted archive: re-wrapped under
        its archive KEK (created on first use), gone from the live table and from this node's
        cache. Keys that are unknown, destroyed, of another workspace or already archived are
        skipped, so a batch can be re-run. Returns how many keys were archived. Other nodes
        must be told to forget the keys (as for destruction, ``confide.privacy.key_cache``)."""
        ids = sorted(set(key_ids))
        rows = await self.store.data_keys_in(workspace_id, ids) if ids else []
        if not rows:
            return 0
        archive_version, archive_kek = await self._archive_kek(workspace_id, create=True)
        moves = []
        for row in rows:
            _, kek = await self._kek(workspace_id, row.kek_version)
            dek = open_sealed(kek, row.wrapped, f"dek:{row.id}".encode())
            rewrapped = seal(archive_kek, dek, f"archived-dek:{row.id}".encode())
            moves.append((row.id, row.kek_version, rewrapped))
        self.forget_many(ids)
        moved = await self.store.move_to_archive(workspace_id, archive_version, moves)
        self.forget_many(ids)  # a reader may have cached one while the move ran
        return moved

    async def restore_keys(self, workspace_id: str, key_ids: Iterable[str]) -> int:
        """Bring archived data keys of the workspace back to the live table, re-wrapped under
        its current KEK. Only inside :meth:`archive_access` (raises ``KeyUnavailable``
        outside it). Keys not in the archive are skipped. Returns how many were restored."""
        if not _ARCHIVE_ACCESS.get():
            raise KeyUnavailable("Restoring archived keys needs the custodian context.")
        ids = sorted(set(key_ids))
        rows = await self.store.archived_data_keys_in(workspace_id, ids) if ids else []
        if not rows:
            return 0
        kek_version, kek = await self._kek(workspace_id)
        moves = []
        for row in rows:
            _, archive_kek = await self._archive_kek(workspace_id, row.archive_version)
            dek = open_sealed(archive_kek, row.wrapped, f"archived-dek:{row.id}".encode())
            moves.append((row.id, row.archive_version, seal(kek, dek, f"dek:{row.id}".encode())))
        return await self.store.move_from_archive(workspace_id, kek_version, moves)

    # -- rotation -------------------------------------------------------------------------

    async def rotate_workspace(self, workspace_id: str) -> int:
        """New KEK version; re-wrap every data key; destroy the old versions. The archive KEK
        (if any) rotates with it. Returns the number of data keys re-wrapped (archived ones
        included)."""
        keys = await self.store.workspace_keys(workspace_id)
        if not keys:
            return 0
        new_version = max(keys) + 1
        fresh = secrets.token_bytes(KEY_BYTES)
        wrapped = self.provider.wrap(fresh, f"{workspace_id}:{new_version}".encode())
        await self.store.add_workspace_key(workspace_id, new_version, self.provider.key_id, wrapped)
        _, new_kek = await self._kek(workspace_id, new_version)
        count = 0
        for old_version in sorted(v for v in keys if v < new_version):
            _, old_kek = await self._kek(workspace_id, old_version)
            for _attempt in range(ROTATION_ATTEMPTS):
                rows = await self.store.data_keys_of(workspace_id, old_version)
                for start in range(0, len(rows), REWRAP_BATCH_SIZE):
                    batch = []
                    for row in rows[start : start + REWRAP_BATCH_SIZE]:
                        aad = f"dek:{row.id}".encode()
                        batch.append(
                            (row.id, seal(new_kek, open_sealed(old_kek, row.wrapped, aad), aad))
                        )
                    await self.store.rewrap_data_keys(old_version, new_version, batch)
                    count += len(batch)
                if await self.store.delete_workspace_key(workspace_id, old_version):
                    break
            else:
                raise KeyStillPresent("Data keys kept appearing under an old KEK; rotate again.")
            self._cache.pop(f"kek:{workspace_id}:{old_version}", None)
        return count + await self._rotate_archive(workspace_id)

    async def _rotate_archive(self, workspace_id: str) -> int:
        """The same for the workspace's archive KEK, if it has one: archived keys re-wrapped
        under a new archive KEK version, the old versions destroyed."""
        keys = await self.store.archive_keys_of(workspace_id)
        if not keys:
            return 0
        new_version = max(keys) + 1
        fresh = secrets.token_bytes(KEY_BYTES)
        context = _archive_context(workspace_id, new_version)
        wrapped = self.provider.wrap(fresh, context)
        await self.store.add_archive_key(workspace_id, new_version, self.provider.key_id, wrapped)
        _, new_kek = await self._archive_kek(workspace_id, new_version)
        count = 0
        for old_version in sorted(keys):
            _, old_kek = await self._archive_kek(workspace_id, old_version)
            for row in await self.store.archived_data_keys_of(workspace_id, old_version):
                aad = f"archived-dek:{row.id}".encode()
                rewrapped = seal(new_kek, open_sealed(old_kek, row.wrapped, aad), aad)
                await self.store.rewrap_archived_data_key(
                    row.id, old_version, new_version, rewrapped
                )
                count += 1
            await self.store.delete_archive_key(workspace_id, old_version)
        return count

    async def rotate_all(self) -> RotationReport:
        total = 0
        workspaces = await self.store.all_workspace_ids()
        for workspace_id in workspaces:
            total += await self.rotate_workspace(workspace_id)
        return RotationReport(len(workspaces), total)

    async def rewrap_master(self, new_provider: KeyProvider) -> int:
        """Re-wrap every workspace KEK (and archive KEK) under a new master key (master-key
        rotation). Returns how many KEKs were re-wrapped."""
        count = 0
        for workspace_id in await self.store.all_workspace_ids():
            count += await self.rewrap_keks(workspace_id, new_provider)
        self.provider = new_provider
        self.forget()
        return count

    async def rewrap_keks(
        self, workspace_id: str, target: KeyProvider, *, only_stale: bool = False
    ) -> int:
        """Re-wrap the workspace's KEKs (same values) under ``target``'s current master key;
        ``only_stale``: only those wrapped by another master key. Returns how many."""
        count = 0
        for version, row in (await self.store.workspace_keys(workspace_id)).items():
            if only_stale and row.master_key_id == target.key_id:
                continue
            context = f"{workspace_id}:{version}".encode()
            kek = self.provider.unwrap(row.wrapped, context, row.master_key_id)
            wrapped = target.wrap(kek, context)
            await self.store.replace_workspace_key_wrapping(
                workspace_id, version, target.key_id, wrapped
            )
            count += 1
        for version, archive_row in (await self.store.archive_keys_of(workspace_id)).items():
            if only_stale and archive_row.master_key_id == target.key_id:
                continue
            context = _archive_context(workspace_id, version)
            kek = self.provider.unwrap(archive_row.wrapped, context, archive_row.master_key_id)
            wrapped = target.wrap(kek, context)
            await self.store.replace_archive_key_wrapping(
                workspace_id, version, target.key_id, wrapped
            )
            count += 1
        return count


def _ws(workspace_id: uuid.UUID | None) -> str:
    return str(workspace_id) if workspace_id is not None else "platform"


def _archive_context(workspace_id: str, version: int) -> bytes:
    """The master-key wrapping context of an archive KEK: never equal to a workspace KEK's
    (``<workspace>:<version>``), so one cannot be passed off as the other."""
    return f"archive:{workspace_id}:{version}".encode()


def _token(dek: bytes, plaintext: str, aad: str) -> str:
    """``plaintext`` sealed under ``dek`` (AES-GCM, ``aad`` bound) as a Confide ciphertext."""
    return (
        TOKEN_PREFIX
        + base64.urlsafe_b64encode(seal(dek, plaintext.encode(), aad.encode())).decode()
    )
