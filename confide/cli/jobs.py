"""``confide worker`` runs background jobs; ``confide jobs`` lists and enqueues them."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
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
        await rt.prepare()
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
) -> None:
    """Recent jobs: kind, state, attempts and progress."""

    async def job(rt: Runtime) -> list[Job]:
        return await list_jobs(rt, status=status, limit=limit)

    rows = run_with_runtime(settings_from(data_dir), job)
    table = Table(title=f"Jobs ({len(rows)})")
    for column in ("id", "kind", "status", "attempts", "progress", "created", "last error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id)[:8],
            row.kind,
            row.status.value,
            f"{row.attempts}/{row.max_attempts}",
            f"{row.items_done} items, {row.batches_done} batches",
            f"{row.created_at:%Y-%m-%d %H:%M:%S}",
            row.last_error_class or "",
        )
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
