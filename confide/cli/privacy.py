"""``confide purge-connection-logs``: delete connection logs past their workspace's retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.progress import Progress, SpinnerColumn, TextColumn

from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
from confide.privacy.connections import PURGE_BATCH_SIZE, purge_connection_logs

if TYPE_CHECKING:
    from confide.runtime import Runtime


@app.command("purge-connection-logs")
def purge_connection_logs_command(
    data_dir: DataDirOption = None, batch_size: int = PURGE_BATCH_SIZE
) -> None:
    """Delete connection logs older than each workspace's connection_log_retention_days.

    Workers (or `confide serve` on SQLite) already run this daily as the purge_connection_logs
    job; this runs the same batches now. Safe to interrupt and to run again: each batch is
    its own transaction.
    """

    async def job(rt: Runtime) -> int:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
        ) as progress:
            task = progress.add_task("Purging connection logs: 0 deleted", total=None)
            done = 0

            def advance(count: int) -> None:
                nonlocal done
                done += count
                progress.update(task, description=f"Purging connection logs: {done} deleted")

            return await purge_connection_logs(rt, batch_size=batch_size, on_batch=advance)

    deleted = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Deleted {deleted} expired connection log(s).")
