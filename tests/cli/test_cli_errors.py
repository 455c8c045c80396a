"""What an operator sees when a command goes wrong: one line on stderr and a non-zero exit
code, never a traceback, and never a new installation made by a mistyped ``--data-dir``;
plus the listing and id conveniences of ``dsr`` and ``backup verify``."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import make_transient

from confide.core.config import Settings
from confide.privacy.requests.models import DsrCase
from confide.runtime import Runtime, storage_warnings
from tests.cli.test_cli import _confide
from tests.conftest import PASSWORD


def _one_error_line(result_stderr: str) -> str:
    lines = [line for line in result_stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result_stderr
    assert "Traceback" not in result_stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["retention", "run", "--dry-run"],
        ["dsr", "list", "--workspace", "demo"],
        ["dsr", "show", "b8035e7c"],
        ["backup", "create"],
        ["backup", "verify"],
        ["jobs", "list"],
        ["audit", "verify"],
        ["records", "export", "--workspace", "demo", "--output", "x.pdf"],
        ["serve", "--no-migrate"],
    ],
    ids=" ".join,
)
def test_a_missing_data_directory_is_refused_and_nothing_is_created(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nonexistent-dir"
    result = _confide(missing, *command, "--data-dir", str(missing))
    assert result.returncode == 1
    line = _one_error_line(result.stderr)
    assert f"No Confide data directory at {missing}" in line
    assert "confide migrate" in line and "--data-dir" in line
    assert not missing.exists()


def test_a_directory_without_a_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    result = _confide(tmp_path, "dsr", "list", "--workspace", "demo")
    assert result.returncode == 1
    assert "No Confide database at" in _one_error_line(result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_a_database_that_was_never_migrated_gets_one_clear_line(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "confide.db") as db:
        db.execute("CREATE TABLE unrelated (a)")
    result = _confide(tmp_path, "retention", "run", "--dry-run")
    assert result.returncode == 1
    assert "no Confide schema: run `confide migrate`" in _one_error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confide.db"]


def test_migrate_still_creates_an_installation(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    assert _confide(fresh, "migrate").returncode == 0
    listed = _confide(fresh, "jobs", "list")
    assert listed.returncode == 0, listed.stderr


def _workspace(data_dir: Path, database_url: str) -> None:
    created = _confide(
        data_dir,
        *("operator", "create", "--workspace", "acme", "--username", "ada"),
        *("--role", "admin", "--password", PASSWORD),
        database_url=database_url,
    )
    assert created.returncode == 0, created.stderr


def test_an_unwritable_output_path_is_one_line_not_a_traceback(
    data_dir: Path, rt: Runtime, database_url: str
) -> None:
    _workspace(data_dir, database_url)
    target = data_dir / "no-such-dir" / "x.pdf"
    result = _confide(
        data_dir,
        *("records", "export", "--workspace", "acme", "--output", str(target)),
        database_url=database_url,
    )
    assert result.returncode == 1
    assert _one_error_line(result.stderr) == f"Error: No such file or directory: {target}"


def test_dsr_list_never_cuts_ids_and_show_takes_a_unique_prefix(
    data_dir: Path, rt: Runtime, database_url: str
) -> None:
    _workspace(data_dir, database_url)
    opened = []
    for n in (1, 2):
        erased = _confide(
            data_dir,
            *("dsr", "erase", "--workspace", "acme", "--email", f"nobody{n}@example.invalid"),
            database_url=database_url,
        )
        assert erased.returncode == 0, erased.stderr
        opened.append(erased.stdout.split()[1].rstrip(":"))
    listed = _confide(data_dir, "dsr", "list", "--workspace", "acme", database_url=database_url)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows[0] == ["id", "kind", "status", "received", "due", "flag"]
    assert sorted(row[0] for row in rows[1:]) == sorted(opened)

    shown = _confide(data_dir, "dsr", "show", opened[0][:8], database_url=database_url)
    assert shown.returncode == 0, shown.stderr
    assert f'"id": "{opened[0]}"' in shown.stdout
    short = _confide(data_dir, "dsr", "show", opened[0][:7], database_url=database_url)
    assert short.returncode == 1
    assert "at least 8 of its hex digits" in _one_error_line(short.stderr)
    unknown_prefix = "0" * 8 if not any(i.startswith("0" * 8) for i in opened) else "f" * 8
    unknown = _confide(data_dir, "dsr", "show", unknown_prefix, database_url=database_url)
    assert unknown.returncode == 1
    assert f"No case id starts with {unknown_prefix}" in _one_error_line(unknown.stderr)


def test_backup_verify_defaults_to_the_latest_backup(
    data_dir: Path, rt: Runtime, database_url: str
) -> None:
    none_yet = _confide(data_dir, "backup", "verify", database_url=database_url)
    assert none_yet.returncode == 1
    assert "No backups in" in _one_error_line(none_yet.stderr)
    ids = []
    for _ in range(2):
        made = _confide(data_dir, "backup", "create", database_url=database_url)
        assert made.returncode == 0, made.stderr
        ids.append(made.stdout.split()[1].rstrip(":"))
    verified = _confide(data_dir, "backup", "verify", database_url=database_url)
    assert verified.returncode == 0, verified.stderr
    said = " ".join(verified.stdout.split())
    assert f"Verifying the latest backup, {max(ids)}." in said
    assert f"Backup {max(ids)} is sound" in said


def test_key_storage_warnings_only_from_long_running_commands_once_each(
    data_dir: Path, rt: Runtime, database_url: str, settings: Settings
) -> None:
    expected = storage_warnings(settings)
    assert expected or not settings.is_sqlite  # keys beside the SQLite database: warned
    one_shot = _confide(data_dir, "jobs", "list", database_url=database_url)
    assert one_shot.returncode == 0, one_shot.stderr
    assert "sits in" not in one_shot.stderr and "cannot be destroyed" not in one_shot.stderr
    worker = _confide(data_dir, "worker", "--once", database_url=database_url)
    assert worker.returncode == 0, worker.stderr
    for warning in expected:
        assert [line for line in worker.stderr.splitlines() if warning in line] != []
        assert worker.stderr.count(warning) == 1


async def test_an_ambiguous_case_prefix_asks_for_more_digits(
    data_dir: Path, rt: Runtime, database_url: str
) -> None:
    await asyncio.to_thread(_workspace, data_dir, database_url)
    erased = await asyncio.to_thread(
        _confide,
        data_dir,
        *("dsr", "erase", "--workspace", "acme", "--email", "nobody@example.invalid"),
        database_url=database_url,
    )
    assert erased.returncode == 0, erased.stderr
    first = uuid.UUID(erased.stdout.split()[1].rstrip(":"))
    # A second case whose id shares the first 12 hex digits with the first one's.
    twin = uuid.UUID(first.hex[:12] + uuid.uuid4().hex[12:])
    async with rt.db.transaction() as tx:
        case = await tx.scalar(select(DsrCase).where(DsrCase.id == first))
        assert case is not None
        tx.expunge(case)
        make_transient(case)
        case.id = twin
        tx.add(case)
    ambiguous = await asyncio.to_thread(
        _confide, data_dir, "dsr", "show", first.hex[:8], database_url=database_url
    )
    assert ambiguous.returncode == 1
    line = _one_error_line(ambiguous.stderr)
    assert f"2 case ids start with {first.hex[:8]}: give more digits" in line
    exact = await asyncio.to_thread(
        _confide, data_dir, "dsr", "show", str(twin), database_url=database_url
    )
    assert exact.returncode == 0, exact.stderr


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_debug(tmp_path: Path) -> None:
    assert _confide(tmp_path, "migrate").returncode == 0
    (tmp_path / "master.key").write_text("not a key\n")  # a damaged key file
    plain = _confide(tmp_path, "jobs", "list")
    assert plain.returncode == 1
    line = _one_error_line(plain.stderr)
    assert line.startswith("Unexpected error (binascii.Error)") and "--debug" in line
    debug = _confide(tmp_path, "--debug", "jobs", "list")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "binascii" in debug.stderr
    assert "locals" not in debug.stderr  # local variables may hold keys: never printed
