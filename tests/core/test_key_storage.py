"""Key files and databases are private to their owner, and keys beside the data are flagged."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from confide.core.config import Settings
from confide.runtime import Runtime, storage_warnings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_databases_and_key_files_are_created_mode_0600(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "fresh")
    rt = Runtime.from_settings(settings)
    try:
        caplog.set_level(logging.WARNING, logger="confide.runtime")
        await rt.prepare()
        assert caplog.text == ""  # one-shot commands prepare too: they stay quiet
        rt.warn_about_key_storage()  # what the server and the worker do at start
        async with rt.db.engine.begin() as conn:  # create the file and its WAL
            await conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
    finally:
        await rt.close()
    data = tmp_path / "fresh"
    for name in ("confide.db", "keys.db", "master.key", "instance.key"):
        assert _mode(data / name) == 0o600, name
    for extra in data.glob("*.db-*"):
        assert _mode(extra) == 0o600, extra.name
    assert "master key (master.key) sits in" in caplog.text
    assert "key store (keys.db) sits in" in caplog.text


def test_no_warning_when_the_keys_live_apart_from_the_data(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    apart = Settings(
        data_dir=tmp_path / "data",
        master_key=SecretStr(base64.b64encode(b"k" * 32).decode()),
        keystore_url=f"sqlite+aiosqlite:///{keys / 'keys.db'}",
    )
    assert storage_warnings(apart) == []
    beside = Settings(data_dir=tmp_path / "data")
    assert len(storage_warnings(beside)) == 2


def test_keys_inside_the_backups_directory_are_flagged(tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    inside = Settings(
        data_dir=backups / "state",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'confide.db'}",
        keystore_url=f"sqlite+aiosqlite:///{backups / 'keys.db'}",
        backups_dir=backups,
    )
    warnings = storage_warnings(inside)
    assert len(warnings) == 2 and all(str(backups) in w for w in warnings)
    assert Settings(data_dir=tmp_path / "data").resolved_backups_dir == tmp_path / "data-backups"


def test_a_postgres_key_store_with_an_undestroyable_master_key_is_flagged(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:5432/confide",
        keystore_url="postgresql+asyncpg://postgres@127.0.0.1:5432/confide_keys",
        master_key=SecretStr(base64.b64encode(b"k" * 32).decode()),
    )
    (warning,) = storage_warnings(settings)
    assert "cannot be destroyed" in warning
    assert storage_warnings(settings.with_overrides(master_key=None)) == []
