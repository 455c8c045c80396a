"""The restricted archive in the keyring: archived data keys are re-wrapped under the
workspace's archive KEK and open only inside ``Keyring.archive_access()`` (issue 13)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.core.errors import KeyErased, KeyUnavailable
from confide.crypto.keyring import Keyring
from confide.crypto.providers import LocalKeyProvider, open_sealed
from tests.crypto.helpers import key_store_on

WS = uuid.uuid4()
OTHER_WS = uuid.uuid4()


@pytest.fixture
async def keyring(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Keyring]:
    async with key_store_on(request.config.getoption("--backend"), tmp_path) as store:
        provider = LocalKeyProvider.from_environment_or_file(None, tmp_path / "master.key")
        yield Keyring(provider, store)


async def _archived(keyring: Keyring, count: int = 2) -> tuple[list[uuid.UUID], list[str]]:
    conversations = [uuid.uuid4() for _ in range(count)]
    tokens = [
        await keyring.encrypt(WS, c, f"transcript {i}", f"m:{i}")
        for i, c in enumerate(conversations)
    ]
    assert await keyring.archive_keys(str(WS), [str(c) for c in conversations]) == count
    return conversations, tokens


async def test_archived_data_opens_only_inside_the_custodian_context(keyring: Keyring) -> None:
    conversation = uuid.uuid4()
    token = await keyring.encrypt(WS, conversation, "archived transcript", "m:1")
    # Read once so the key sits in this node's cache: archiving must drop it from there too.
    assert await keyring.decrypt(WS, conversation, token, "m:1") == "archived transcript"
    assert await keyring.archive_keys(str(WS), [str(conversation)]) == 1

    assert await keyring.store.data_key(str(conversation)) is None
    with pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, conversation, token, "m:1")
    with keyring.archive_access():
        assert await keyring.decrypt(WS, conversation, token, "m:1") == "archived transcript"
        with pytest.raises(KeyUnavailable):  # read-only: nothing new under an archived key
            await keyring.encrypt(WS, conversation, "appended", "m:2")
        with pytest.raises(KeyUnavailable):  # and the workspace check still holds
            await keyring.decrypt(OTHER_WS, conversation, token, "m:1")
    with pytest.raises(KeyUnavailable):  # the context ends with the block
        await keyring.decrypt(WS, conversation, token, "m:1")


async def test_writers_cannot_recreate_an_archived_key(keyring: Keyring) -> None:
    (conversation,), _ = await _archived(keyring, 1)
    with pytest.raises(KeyUnavailable):
        await keyring.encrypt(WS, conversation, "new message", "m:9")
    assert await keyring.store.data_key(str(conversation)) is None


async def test_archived_key_is_wrapped_under_the_archive_kek_not_the_workspace_kek(
    keyring: Keyring,
) -> None:
    (conversation,), _ = await _archived(keyring, 1)
    row = await keyring.store.archived_data_key(str(conversation))
    assert row is not None and row.workspace_id == str(WS) and row.archive_version == 1
    _, workspace_kek = await keyring._kek(str(WS))
    with pytest.raises(KeyUnavailable):
        open_sealed(workspace_kek, row.wrapped, f"archived-dek:{conversation}".encode())
    with pytest.raises(KeyUnavailable):
        open_sealed(workspace_kek, row.wrapped, f"dek:{conversation}".encode())
    assert list(await keyring.store.archive_keys_of(str(WS))) == [1]


async def test_the_custodian_context_belongs_to_the_task_that_entered_it(
    keyring: Keyring,
) -> None:
    (conversation,), (token,) = await _archived(keyring, 1)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def custodian() -> str:
        with keyring.archive_access():
            entered.set()
            await release.wait()
            return await keyring.decrypt(WS, conversation, token, "m:0")

    async def agent() -> str | None:
        await entered.wait()
        try:
            return await keyring.decrypt(WS, conversation, token, "m:0")
        except KeyUnavailable:
            return None
        finally:
            release.set()

    assert await asyncio.gather(custodian(), agent()) == ["transcript 0", None]


async def test_restore_brings_keys_back_only_in_the_custodian_context(keyring: Keyring) -> None:
    conversations, tokens = await _archived(keyring, 2)
    ids = [str(c) for c in conversations]
    with pytest.raises(KeyUnavailable):
        await keyring.restore_keys(str(WS), ids)
    with keyring.archive_access():
        assert await keyring.restore_keys(str(WS), ids[:1]) == 1
        assert await keyring.restore_keys(str(WS), ids[:1]) == 0  # already live: skipped
    assert await keyring.decrypt(WS, conversations[0], tokens[0], "m:0") == "transcript 0"
    with pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, conversations[1], tokens[1], "m:1")
    row = await keyring.store.data_key(ids[0])
    assert row is not None and await keyring.store.archived_data_key(ids[0]) is None


async def test_archiving_skips_unknown_foreign_and_already_archived_keys(
    keyring: Keyring,
) -> None:
    mine, foreign = uuid.uuid4(), uuid.uuid4()
    await keyring.encrypt(WS, mine, "a", "m")
    await keyring.encrypt(OTHER_WS, foreign, "b", "m")
    ids = [str(mine), str(foreign), str(uuid.uuid4())]
    assert await keyring.archive_keys(str(WS), ids) == 1
    assert await keyring.archive_keys(str(WS), ids) == 0
    assert await keyring.archive_keys(str(WS), []) == 0
    assert await keyring.store.data_key(str(foreign)) is not None


async def test_destroying_an_archived_key_shreds_it_for_the_custodian_too(
    keyring: Keyring, tmp_path: Path
) -> None:
    (conversation,), (token,) = await _archived(keyring, 1)
    wrapped = (await keyring.store.archived_data_key(str(conversation))).wrapped  # type: ignore[union-attr]
    assert await keyring.destroy_many([str(conversation)]) == 1
    with keyring.archive_access(), pytest.raises(KeyUnavailable):
        await keyring.decrypt(WS, conversation, token, "m:0")
    assert await keyring.store.archived_data_key(str(conversation)) is None
    with pytest.raises(KeyErased):
        await keyring.encrypt(WS, conversation, "again", "m")
    for name in ("keys.db", "keys.db-wal"):
        path = tmp_path / name
        if path.exists():
            assert wrapped not in path.read_bytes()


async def test_rotation_rewraps_archived_keys_under_a_new_archive_kek(keyring: Keyring) -> None:
    conversations, tokens = await _archived(keyring, 3)
    live = uuid.uuid4()
    await keyring.encrypt(WS, live, "live", "m")
    assert await keyring.rotate_workspace(str(WS)) == 4
    assert list(await keyring.store.archive_keys_of(str(WS))) == [2]
    keyring.forget()
    with keyring.archive_access():
        for i, (conversation, token) in enumerate(zip(conversations, tokens, strict=True)):
            assert await keyring.decrypt(WS, conversation, token, f"m:{i}") == f"transcript {i}"
    for conversation in conversations:
        row = await keyring.store.archived_data_key(str(conversation))
        assert row is not None and row.archive_version == 2


async def test_master_key_rotation_covers_the_archive_kek(keyring: Keyring, tmp_path: Path) -> None:
    (conversation,), (token,) = await _archived(keyring, 1)
    new_master = LocalKeyProvider.from_environment_or_file(None, tmp_path / "master2.key")
    assert await keyring.rewrap_master(new_master) == 2  # workspace KEK + archive KEK
    fresh = Keyring(new_master, keyring.store)
    with fresh.archive_access():
        assert await fresh.decrypt(WS, conversation, token, "m:0") == "transcript 0"
