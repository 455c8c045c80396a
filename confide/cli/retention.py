"""``confide retention run``: the retention job's batches, now, with a progress bar;
``confide retention delete``: bulk delete by filter through the same engine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
from confide.privacy.retention.run import (
    BATCH_SIZE,
    do_dry_run_retention,
    do_run_retention,
)

if TYPE_CHECKING:
    from confide.runtime import Runtime

retention_app: typer.Typer = typer.Typer(
    help="Retention: archive, end of life, bulk delete.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")


def parse_day(value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` as midnight UTC (None: now)."""
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise typer.BadParameter("Give the date as YYYY-MM-DD.", param_hint="--now") from exc


def _print_report(report: dict[str, Any]) -> None:
    totals = {"statistics": 0, "archived": 0, "destroyed": 0, "held": 0, "visitors_erased": 0}
    for channels in report["workspaces"].values():
        for counts in channels.values():
            for name in totals:
                totals[name] += counts[name]
    console.print(
        "Statistics {statistics}, archived {archived}, destroyed {destroyed}, held {held}, "
        "visitors erased {visitors_erased}.".format(**totals)
    )
    if report["overdue"]:
        console.print(f"[red]Overdue in {len(report['overdue'])} workspace(s).[/red]")


@retention_app.command("run")
def run_command(
    data_dir: DataDirOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be done; change nothing.")
    ] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="Act as of this day (YYYY-MM-DD, UTC).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = BATCH_SIZE,
) -> None:
    """Run retention now: statistics, archive, end of life, in batches of one transaction.

    Workers already run this daily as the `retention` job. Safe to interrupt (even with
    SIGKILL) and to run again: the same day's unfinished run is resumed where its last
    batch committed, and nothing is counted twice.
    """
    as_of = parse_day(now)

    async def job(rt: Runtime) -> dict[str, Any]:
        if dry_run:
            run = await do_dry_run_retention(rt, as_of=as_of)
            assert run.report is not None
            return run.report
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("Retention: conversations handled", total=None)
            finished = await do_run_retention(
                rt,
                as_of=as_of,
                batch_size=batch_size,
                on_batch=lambda n: progress.advance(task, n),
            )
        assert finished.report is not None
        return finished.report

    report = run_with_runtime(settings_from(data_dir), job)
    console.print("Dry run: nothing changed." if dry_run else "Retention run finished.")
    _print_report(report)
