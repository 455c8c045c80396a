"""``confide worker`` runs background jobs; ``confide jobs`` lists and enqueues them."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

# Imported for the job kinds they register: reply e-mails, attribute expiry, export purge, grant
# expiries, retention; key epochs and destruction retries; the daily backup.
import confide.access.support_access
import confide.backup.actions
import confide.chat.attributes
import confide.chat.offline
import confide.privacy.export_store
import confide.privacy.keys
import confide.privacy.retention.job  # noqa: F401
from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
from confide.core.db_use import shared_use
from confide.core.logging import configure_logging
from confide.jobs.kinds import KINDS
from confide.jobs.models import Job, JobStatus
from confide.jobs.queue import do_enqueue_job, list_jobs
from confide.jobs.worker import Worker

if TYPE_CHECKING:
    from confide.runtime import Runtime

jobs_app: typer.Typer = typer.Typer(
    help="Inspect and enqueue background jobs.", no_args_is_help=True
)


@app.command("worker")
def worker_command(
    data_dir: DataDirOption = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs this process runs at the same time.")
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Run the jobs that are due now, then exit.")
    ] = False,
) -> None:
    """Run scheduled and queued jobs until SIGTERM or SIGINT.

    Any number of workers may share one PostgreSQL database: they never run the same batch
    twice, and the job of a worker that dies is picked up again once its lease expires.
    On stop, the current batch finishes and its job is handed back.
    """
    settings = settings_from(data_dir)
    configure_logging(settings.log_level)

    async def job(rt: Runtime) -> int:
        with shared_use(rt.db.url):  # a restore refuses meanwhile
            await rt.prepare()
            rt.warn_about_key_storage()
            worker = Worker(rt, concurrency=concurrency)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, worker.stop)
            return await worker.run(once=once)

    ran = run_with_runtime(settings, job)
    console.print(f"Worker stopped after {ran} job(s).")


@jobs_app.command("list")
def jobs_list(
    data_dir: DataDirOption = None,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    show_all: Annotated[
        bool,
        typer.Option(
            "--all", help="Also list the succeeded runs of recurring jobs (hidden by default)."
        ),
    ] = False,
) -> None:
    """Recent jobs: kind, state, attempts and progress. Succeeded runs of recurring jobs are
    hidden unless --all (or --status succeeded) asks for them."""

    async def job(rt: Runtime) -> list[Job]:
        return await list_jobs(
            rt,
            status=status,
            limit=limit,
            include_finished_recurring=show_all or status is JobStatus.SUCCEEDED,
        )

    rows = run_with_runtime(settings_from(data_dir), job)
    hidden = "" if show_all or status is not None else ", finished recurring runs hidden: --all"
    # Fits 80 columns without cutting the kind or the time: progress and the last error go
    # on a second, indented line under the kind.
    kind_width = max([len(name) for name in KINDS] + [len(r.kind) for r in rows] + [4])
    table = Table(
        title=f"Jobs ({len(rows)}{hidden})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title_justify="left",
    )
    table.add_column("id", no_wrap=True)
    table.add_column("kind / progress", min_width=kind_width, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("tries", no_wrap=True)
    table.add_column("created (UTC)", no_wrap=True)
    for row in rows:
        table.add_row(
            str(row.id)[:8],
            row.kind,
            row.status.value,
            f"{row.attempts}/{row.max_attempts}",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
        detail = f"{row.items_done} items, {row.batches_done} batches"
        if row.last_error_class:
            detail += f"; last error: {row.last_error_class}"
        table.add_row("", f"[dim]{escape(detail)}[/dim]", "", "", "")
    console.print(table)


@jobs_app.command("enqueue")
def jobs_enqueue(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(KINDS))}.")],
    data_dir: DataDirOption = None,
) -> None:
    """Queue one run of a job kind now (a worker, or `confide serve` on SQLite, runs it)."""

    async def job(rt: Runtime) -> object:
        return await do_enqueue_job(rt, kind)

    job_id = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Queued {kind} ({job_id}).")
