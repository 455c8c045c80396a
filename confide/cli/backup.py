"""``confide backup``: create, list, verify, restore and prune encrypted backups
(``confide.backup``; layout in docs/operations.md). Every long step shows a progress bar."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from confide.backup.actions import (
    BackupSummary,
    ProgressReport,
    do_create_backup,
    do_prune_backups,
    list_backups,
)
from confide.backup.keystore_copy import do_restore_key_store
from confide.backup.restore import VerifyResult, do_restore_backup, verify_backup
from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
from confide.core.errors import NotFound
from confide.privacy.reapply import ReapplyReport

if TYPE_CHECKING:
    from confide.runtime import Runtime

backup_app = typer.Typer(help="Encrypted backups that never bring erased data back.")
app.add_typer(backup_app, name="backup", no_args_is_help=True)

_STEPS = {
    "snapshot": "Snapshot (pages)",
    "read": "Reading",
    "seal": "Compressed and sealed",
    "keystore": "Key-store copy",
    "audit": "Audit chains",
    "journal": "Re-applying erasures",
}


@contextmanager
def _bars() -> Iterator[ProgressReport]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def report(step: str, done: int, total: int | None) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(_STEPS.get(step, step), total=total)
            progress.update(tasks[step], completed=done, total=total)

        yield report


@backup_app.command("create")
def create(data_dir: DataDirOption = None) -> None:
    """Take a consistent, compressed, encrypted backup now (the worker does it daily)."""

    async def job(rt: Runtime) -> dict[str, Any]:
        with _bars() as report:
            return await do_create_backup(rt, report)

    manifest = run_with_runtime(settings_from(data_dir), job)
    rows = sum(manifest["row_counts"].values())
    console.print(
        f"Backup {manifest['id']}: {len(manifest['row_counts'])} tables, {rows} rows, "
        f"{manifest['sealed_bytes']} bytes sealed in {len(manifest['chunks'])} chunks."
    )


@backup_app.command("list")
def list_(data_dir: DataDirOption = None) -> None:
    """The backups in the backups directory, oldest first."""

    async def job(rt: Runtime) -> list[BackupSummary]:
        return await list_backups(rt)

    backups = run_with_runtime(settings_from(data_dir), job)
    table = Table("Backup", "Taken (UTC)", "Bytes")
    for backup in backups:
        table.add_row(
            backup.backup_id, f"{backup.created_at:%Y-%m-%d %H:%M}", str(backup.size_bytes)
        )
    console.print(table)


@backup_app.command("verify")
def verify(
    backup_id: Annotated[
        str | None, typer.Argument(help="The backup to verify (default: the latest).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore into a temporary database and check the manifest, the erasure journal, the row
    counts, the key-store copy and the audit chains; prints the first failure in one line
    (exit code 1)."""

    async def job(rt: Runtime) -> tuple[str, VerifyResult]:
        chosen = backup_id
        if chosen is None:
            backups = await list_backups(rt)  # oldest first
            if not backups:
                where = rt.settings.resolved_backups_dir
                raise NotFound(f"No backups in {where}: run `confide backup create`.")
            chosen = backups[-1].backup_id
            console.print(f"Verifying the latest backup, {chosen}.")
        with _bars() as report:
            return chosen, await verify_backup(rt, chosen, report)

    backup_id, result = run_with_runtime(settings_from(data_dir), job)
    if result.problem is not None:
        console.print(f"[red]FAILED[/red] {result.problem}", soft_wrap=True)
        raise typer.Exit(code=1)
    console.print(
        f"Backup {backup_id} is sound: {result.tables} tables, {result.rows} rows, "
        f"{result.chains} audit chain(s) verified; {result.keystore}."
    )


@backup_app.command("restore")
def restore(
    backup_id: str,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Database URL to restore into (default: the configured one)."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restore into a stopped deployment's database (or a new one) and re-apply every erasure
    and retention deletion journaled since the backup. Refuses while a server or worker uses
    it. Safe to run again if interrupted."""

    async def job(rt: Runtime) -> ReapplyReport:
        with _bars() as report:
            return await do_restore_backup(rt, backup_id, to, report)

    result = run_with_runtime(settings_from(data_dir), job)  # BackupInvalid: one red line
    console.print(
        f"Restored {backup_id}; re-applied {result.entries} journal entr(y/ies): "
        f"{result.people} person(s) erased again, {result.conversations} conversation(s) "
        "deleted again."
    )


@backup_app.command("prune")
def prune(data_dir: DataDirOption = None) -> None:
    """Remove backups older than backup_keep_days (or the shortest retention) and destroy
    their keys."""

    async def job(rt: Runtime) -> list[str]:
        return await do_prune_backups(rt)

    removed = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Removed {len(removed)} backup(s).")


@backup_app.command("restore-keys")
def restore_keys(
    backup_id: str,
    to: Annotated[str, typer.Option("--to", help="Key-store database URL to write into.")],
    data_dir: DataDirOption = None,
) -> None:
    """Put a backup's key-store copy (wrapped keys only) into a key store. It opens only while
    the master-key epoch it was made under exists: never after a later erasure's key epoch."""

    async def job(rt: Runtime) -> dict[str, int]:
        return await do_restore_key_store(rt, backup_id, to)

    counts = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Key store restored from {backup_id}: {sum(counts.values())} row(s).")
