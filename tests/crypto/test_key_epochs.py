"""Key epochs: after an erasure and the next epoch, no copy of the key store taken before it
(rows, WAL, a dump) can be opened with the keys that exist afterwards (issue 11). Runs with the
key store on the suite's backend: a SQLite file, or PostgreSQL (copied with pg_dump)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from confide.core.errors import KeyUnavailable
from confide.crypto.epochs import advance_epoch
from confide.crypto.keyring import Keyring
from confide.crypto.keystore import KeyStore
from confide.crypto.providers import LocalKeyProvider, open_sealed
from tests.crypto.helpers import key_store_on

WS = uuid.uuid4()
OTHER_WS = uuid.uuid4()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


@pytest.fixture
async def keyring(backend: str, tmp_path: Path) -> AsyncIterator[Keyring]:
    async with key_store_on(backend, tmp_path) as store:
        provider = LocalKeyProvider.from_environment_or_file(None, tmp_path / "master.key")
        yield Keyring(provider, store)


async def _copy_of_store(store: KeyStore, tmp_path: Path) -> KeyStore:
    """A copy of the key store as a backup would hold it: the SQLite file (after a checkpoint)
    or a pg_dump of the PostgreSQL database restored into a new database."""
    if store.path is not None:
        target = tmp_path / f"copy-{uuid.uuid4().hex[:6]}.db"
        await store._purge()
        shutil.copy(store.path, target)
        return KeyStore(f"sqlite+aiosqlite:///{target}")
    url = store.db.url
    base, name = url.rsplit("/", 1)
    copy_name = f"{name}_copy_{uuid.uuid4().hex[:6]}"
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    dump = tmp_path / "keys.dump"
    subprocess.run(["pg_dump", "-Fc", "-f", str(dump), plain], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", copy_name], check=True)
    subprocess.run(
        ["pg_restore", "-d", f"{plain.rsplit('/', 1)[0]}/{copy_name}", str(dump)], check=True
    )
    return KeyStore(f"{base}/{copy_name}")


async def _drop_copy(copy: KeyStore) -> None:
    await copy.close()
    if copy.path is None:
        name = copy.db.url.rsplit("/", 1)[1]
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", name], check=True)


async def test_a_key_store_copy_from_before_an_erasure_opens_nothing_after_the_epoch(
    keyring: Keyring, tmp_path: Path
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    secret = await keyring.encrypt(WS, erased, "grace@example.invalid", "fields:1:email")
    kept_token = await keyring.encrypt(WS, kept, "still here", "fields:2:email")
    await keyring.encrypt(OTHER_WS, uuid.uuid4(), "another workspace", "fields:3")
    captured = await keyring.store.data_key(str(erased))
    assert captured is not None
    copy = await _copy_of_store(keyring.store, tmp_path)
    try:
        await keyring.destroy_many([str(erased)])
        path = tmp_path / "master.key"

        # The window this closes: before the epoch, the copy opens with today's master key.
        before = Keyring(LocalKeyProvider.from_environment_or_file(None, path), copy)
        assert await before.decrypt(WS, erased, secret, "fields:1:email") == (
            "grace@example.invalid"
        )

        report = await advance_epoch(keyring)
        assert report.advanced and report.workspaces_rotated == 1
        assert report.epochs_destroyed == 1 and report.destruction_possible

        # Every key that exists afterwards: the master key file as it is now, the live store.
        after = LocalKeyProvider.from_environment_or_file(None, path)
        with pytest.raises(KeyUnavailable):
            await Keyring(after, copy).decrypt(WS, erased, secret, "fields:1:email")
        for row in (await copy.workspace_keys(str(WS))).values():
            with pytest.raises(KeyUnavailable):
                after.unwrap(row.wrapped, f"{WS}:{row.version}".encode())
        live = Keyring(after, keyring.store)
        for version in await keyring.store.workspace_keys(str(WS)):
            _, kek = await live._kek(str(WS), version)
            with pytest.raises(KeyUnavailable):
                open_sealed(kek, captured.wrapped, f"dek:{erased}".encode())
        # The people who were not erased keep their data, in both workspaces.
        assert await live.decrypt(WS, kept, kept_token, "fields:2:email") == "still here"
        assert len(path.read_text().split()) == 1
    finally:
        await _drop_copy(copy)


async def test_an_epoch_without_a_loss_does_nothing(keyring: Keyring) -> None:
    await keyring.encrypt(WS, uuid.uuid4(), "x", "a")
    assert not (await advance_epoch(keyring)).advanced
    forced = await advance_epoch(keyring, force=True)
    assert forced.advanced and forced.workspaces_rotated == 0 and forced.keks_rewrapped == 1


async def test_an_epoch_that_died_half_way_is_finished_by_the_next_run(
    keyring: Keyring, tmp_path: Path
) -> None:
    subject = uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "kept", "a")
    await keyring.destroy_many([str(uuid.uuid4())])  # nothing of WS: no workspace marked
    keyring.provider.advance_epoch()  # as if the job died right after starting the epoch
    assert await keyring.store.keks_wrapped_by_others(keyring.provider.key_id) == 1
    report = await advance_epoch(keyring)
    assert report.advanced and report.epochs_destroyed == 2
    assert await keyring.store.keks_wrapped_by_others(keyring.provider.key_id) == 0
    keyring.forget()
    assert await keyring.decrypt(WS, subject, token, "a") == "kept"


async def test_another_process_follows_the_epoch_from_the_key_file(
    keyring: Keyring, tmp_path: Path
) -> None:
    subject, erased = uuid.uuid4(), uuid.uuid4()
    token = await keyring.encrypt(WS, subject, "kept", "a")
    await keyring.encrypt(WS, erased, "gone", "b")
    other = Keyring(
        LocalKeyProvider.from_environment_or_file(None, tmp_path / "master.key"),
        KeyStore(keyring.store.db.url),
    )
    try:
        await keyring.destroy_many([str(erased)])
        await advance_epoch(keyring)
        assert await other.decrypt(WS, subject, token, "a") == "kept"
        fresh = uuid.uuid4()  # a new key there is wrapped under the new epoch, not a dead one
        await other.encrypt(OTHER_WS, fresh, "new", "c")
        keyring.forget()
        assert (
            await keyring.decrypt(
                OTHER_WS, fresh, await other.encrypt(OTHER_WS, fresh, "n", "c"), "c"
            )
            == "n"
        )
    finally:
        await other.store.close()


async def test_a_master_key_from_the_environment_rotates_keks_but_cannot_destroy(
    backend: str, tmp_path: Path
) -> None:
    async with key_store_on(backend, tmp_path) as store:
        env_key = base64.b64encode(b"k" * 32).decode()
        keyring = Keyring(LocalKeyProvider.from_environment_or_file(env_key, tmp_path / "x"), store)
        erased = uuid.uuid4()
        await keyring.encrypt(WS, erased, "gone", "b")
        await keyring.destroy_many([str(erased)])
        report = await advance_epoch(keyring)
        assert report.advanced and report.workspaces_rotated == 1
        assert not report.destruction_possible and report.epochs_destroyed == 0


async def test_tombstoned_keys_that_still_exist_are_listed_for_the_retry(
    keyring: Keyring,
) -> None:
    keys = [uuid.uuid4() for _ in range(3)]
    for key in keys:
        await keyring.encrypt(WS, key, "x", "a")
    entry = await keyring.store.append_journal(
        "erasure", str(WS), [str(keys[0])], [str(k) for k in keys[:2]]
    )
    assert entry.seq == 1
    assert sorted(await keyring.store.tombstoned_but_present(10)) == sorted(
        str(k) for k in keys[:2]
    )
    await keyring.destroy_many([str(k) for k in keys[:2]])
    assert await keyring.store.tombstoned_but_present(10) == []


async def test_the_journal_is_hash_chained(keyring: Keyring) -> None:
    for _ in range(3):
        await keyring.store.append_journal("erasure", str(WS), [str(uuid.uuid4())], [])
    await asyncio.gather(
        *(
            keyring.store.append_journal("retention", str(WS), [], [str(uuid.uuid4())])
            for _ in range(4)
        )
    )
    entries = await keyring.store.journal_entries()
    assert [e.seq for e in entries] == list(range(1, 8))
    assert await keyring.store.verify_journal() is None
    async with keyring.store.db.transaction() as session:
        row = await session.get(type(entries[0]), 3)
        assert row is not None
        row.key_ids = '["00000000-0000-0000-0000-000000000000"]'
    assert await keyring.store.verify_journal() == 3
