"""``confide retention run``: the retention job's batches, now, with a progress bar;
``confide retention delete``: bulk delete by filter through the same engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from confide.access.workspaces import find_workspace_by_slug
from confide.chat.models import Channel
from confide.cli.common import DataDirOption, app, console, run_with_runtime, settings_from
from confide.core.errors import NotFound
from confide.privacy.retention.bulk import BulkDeleteReport, BulkFilter, do_bulk_delete
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
        raise typer.BadParameter("Give the date as YYYY-MM-DD.", param_hint="date") from exc


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


def _uuid(value: str | None, option: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise typer.BadParameter("Give an id (a UUID).", param_hint=option) from exc


@retention_app.command("delete")
def delete_command(
    workspace: Annotated[str, typer.Option(help="The workspace's slug.")],
    data_dir: DataDirOption = None,
    since: Annotated[str | None, typer.Option(help="Started on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Started before (YYYY-MM-DD).")] = None,
    channel: Annotated[Channel | None, typer.Option(help="Only this channel.")] = None,
    group: Annotated[str | None, typer.Option(help="Only this group (id).")] = None,
    visitor: Annotated[str | None, typer.Option(help="Only this visitor (id).")] = None,
    label: Annotated[
        str | None, typer.Option(help="Only conversations with this label (id).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; change nothing.")
    ] = False,
) -> None:
    """Delete conversations by filter through the erasure engine: statistics kept, rows and
    keys destroyed, visitors left with nothing erased, legal holds skipped and reported."""
    where = BulkFilter(
        since=parse_day(since),
        until=parse_day(until),
        channel=channel,
        group_id=_uuid(group, "--group"),
        visitor_id=_uuid(visitor, "--visitor"),
        label_id=_uuid(label, "--label"),
    )

    async def job(rt: Runtime) -> BulkDeleteReport:
        found = await find_workspace_by_slug(rt, workspace)
        if found is None:
            raise NotFound("No workspace with that slug.", field="workspace")
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
        ) as progress:
            progress.add_task("Deleting conversations", total=None)
            return await do_bulk_delete(rt, None, found.id, where, dry_run=dry_run)

    report = run_with_runtime(settings_from(data_dir), job)
    verb = "Would delete" if dry_run else "Deleted"
    console.print(
        f"{verb} {report.matched - report.held if dry_run else report.destroyed} "
        f"conversation(s); {report.held} under legal hold skipped; "
        f"{report.visitors_erased} visitor(s) {'would be ' if dry_run else ''}erased."
    )
