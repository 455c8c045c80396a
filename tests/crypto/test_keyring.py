"""The keyring: envelope encryption, AAD binding, rotation, compare-and-set and shredding."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.core.errors import KeyUnavailable
from confide.crypto.keyring import Keyring
from confide.crypto.keystore import KeyStore
from confide.crypto.providers import LocalKeyProvider


@pytest.fixture
async def keyring(tmp_path: Path) -> AsyncIterator[Keyring]:
    store = KeyStore(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await store.create_schema()
    provider = LocalKeyProvider.from_environment_or_file(None, tmp_path / "master.key")
    yield Keyring(provider, store)
    await store.close()


WS = uuid.uuid4()


async def test_round_trip_and_ciphertext_hides_the_plaintext(keyring: Keyring) -> None:
    subject = uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "grace@example.invalid", "personal_fields:1:email")
    assert "grace" not in token and token.startswith("ck1:")
    assert await keyring.decrypt(WS, subject, token, "personal_fields:1:email") == (
        "grace@example.invalid"
    )
    again = await keyring.encrypt(WS, subject, "grace@example.invalid", "personal_fields:1:email")
    assert again != token  # a fresh nonce every time


async def test_ciphertext_moved_to_another_record_does_not_decrypt(keyring: Keyring) -> None:
    subject = uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "secret", "personal_fields:row-1:email")
    with pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, subject, token, "personal_fields:row-2:email")
    other = uuid.uuid4()
    await keyring.encrypt(WS, other, "x", "a")
    with pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, other, token, "personal_fields:row-1:email")


async def test_rotation_rewraps_keys_and_old_data_stays_readable(keyring: Keyring) -> None:
    subjects = [uuid.uuid4() for _ in range(3)]
    tokens = [await keyring.encrypt(WS, s, f"value {i}", f"aad{i}") for i, s in enumerate(subjects)]
    before = {s: (await keyring.store.data_key(str(s))).wrapped for s in subjects}  # type: ignore[union-attr]
    assert await keyring.rotate_workspace(str(WS)) == 3
    keyring.forget()
    versions = await keyring.store.workspace_keys(str(WS))
    assert list(versions) == [2]
    for i, (subject, token) in enumerate(zip(subjects, tokens, strict=True)):
        row = await keyring.store.data_key(str(subject))
        assert row is not None and row.kek_version == 2 and row.wrapped != before[subject]
        assert await keyring.decrypt(WS, subject, token, f"aad{i}") == f"value {i}"


async def test_master_key_rotation_keeps_everything_readable(
    keyring: Keyring, tmp_path: Path
) -> None:
    subject = uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "kept", "aad")
    new_master = LocalKeyProvider.from_environment_or_file(None, tmp_path / "master2.key")
    assert await keyring.rewrap_master(new_master) == 1
    fresh = Keyring(new_master, keyring.store)
    assert await fresh.decrypt(WS, subject, token, "aad") == "kept"
    stale = Keyring(
        LocalKeyProvider.from_environment_or_file(None, tmp_path / "master.key"), keyring.store
    )
    with pytest.raises(KeyUnavailable):
        await stale.decrypt(WS, subject, token, "aad")


async def test_destroyed_key_makes_data_unreadable_and_leaves_no_trace(
    keyring: Keyring, tmp_path: Path
) -> None:
    subject = uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "to be forgotten", "aad")
    wrapped = (await keyring.store.data_key(str(subject))).wrapped  # type: ignore[union-attr]
    assert await keyring.destroy(subject) is True
    with pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, subject, token, "aad")
    for name in ("keys.db", "keys.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert wrapped not in path.read_bytes()
    assert await keyring.destroy(subject) is False


async def test_racing_key_creation_settles_on_the_stored_key(
    keyring: Keyring, tmp_path: Path
) -> None:
    subject = uuid.uuid4()
    other_node = Keyring(keyring.provider, KeyStore(keyring.store.db.url))
    tokens = await asyncio.gather(
        keyring.encrypt(WS, subject, "from node A", "aad"),
        other_node.encrypt(WS, subject, "from node B", "aad"),
    )
    keyring.forget()
    other_node.forget()
    assert await keyring.decrypt(WS, subject, tokens[0], "aad") == "from node A"
    assert await keyring.decrypt(WS, subject, tokens[1], "aad") == "from node B"
    await other_node.store.close()


async def test_streams_seal_under_a_data_key_and_die_with_it(keyring: Keyring) -> None:
    conversation = uuid.uuid4()
    data = b"%PDF-1.7 fake invoice " * 5000

    async def source() -> AsyncIterator[bytes]:
        yield data

    sealed = [c async for c in keyring.seal_stream(WS, conversation, source(), "attachment:1")]
    assert data[:22] not in b"".join(sealed)

    async def replay() -> AsyncIterator[bytes]:
        for chunk in sealed:
            yield chunk

    opened = [c async for c in keyring.open_stream(WS, conversation, replay(), "attachment:1")]
    assert b"".join(opened) == data
    assert await keyring.destroy(conversation)
    with pytest.raises(KeyUnavailable):
        [c async for c in keyring.open_stream(WS, conversation, replay(), "attachment:1")]
