"""``confide audit``: verify the ledger's chains, sign checkpoints and export them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from confide.access.models import Workspace
from confide.access.workspaces import find_workspace_by_slug
from confide.audit.checkpoints import (
    SignedHead,
    create_checkpoint,
    export_checkpoints,
    load_exported,
)
from confide.audit.verify import ChainReport, all_chains, verify_chain
from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.core.errors import NotFound

if TYPE_CHECKING:
    from confide.runtime import Runtime

app: typer.Typer = typer.Typer(
    help="The audit ledger: verify its chains, sign checkpoints, export them.",
    no_args_is_help=True,
)
WorkspaceOption = Annotated[
    str | None,
    typer.Option(help="Workspace slug; omit for every chain, the platform's included."),
]


async def _chains(rt: Runtime, slug: str | None) -> list[tuple[str, uuid.UUID | None]]:
    """(display name, workspace id) of the chains asked for."""
    await rt.prepare()
    if slug is not None:
        workspace = await find_workspace_by_slug(rt, slug)
        if workspace is None:
            raise NotFound(f"No workspace {slug!r}.", field="workspace")
        return [(slug, workspace.id)]
    chains = await all_chains(rt)
    async with rt.db.session() as session:
        slugs = dict((await session.execute(select(Workspace.id, Workspace.slug))).tuples().all())
    return [("platform" if c is None else slugs.get(c, str(c)), c) for c in chains]


def _print_reports(reports: list[tuple[str, ChainReport]]) -> bool:
    table = Table(title="Audit chains")
    for column in ("chain", "records", "checkpoints", "head", "result"):
        table.add_column(column)
    for name, report in reports:
        head = f"{report.head_seq} {report.head_hash[:16]}"
        result = "[green]intact[/green]" if report.ok else "[red]TAMPERED[/red]"
        table.add_row(name, str(report.records), str(report.checkpoints), head, result)
    console.print(table)
    for name, report in reports:
        if report.problem is not None:
            problem = report.problem
            console.print(
                f"[red]{name}: {problem.kind} at seq {problem.seq}[/red]: {problem.message}"
            )
    return all(report.ok for _, report in reports)


@app.command("verify")
def verify(
    workspace: WorkspaceOption = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(help="A file from export-checkpoints, kept elsewhere, to check against."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Walk the chains; report the first edited, missing or reordered record (exit 1)."""
    external: list[SignedHead] = []
    if checkpoints is not None:
        try:
            external = load_exported(checkpoints.read_text())
        except ValueError as exc:
            console.print(f"[red]Error:[/red] {exc}")
            raise typer.Exit(code=2) from exc

    async def job(rt: Runtime) -> list[tuple[str, ChainReport]]:
        return [
            (name, await verify_chain(rt, chain, external=external))
            for name, chain in await _chains(rt, workspace)
        ]

    if not _print_reports(run_with_runtime(settings_from(data_dir), job)):
        raise typer.Exit(code=1)


@app.command("checkpoint")
def checkpoint(workspace: WorkspaceOption = None, data_dir: DataDirOption = None) -> None:
    """Verify each chain, then sign its head. A tampered chain is reported, never signed."""

    async def job(rt: Runtime) -> tuple[list[tuple[str, ChainReport]], list[str]]:
        reports, signed = [], []
        for name, chain in await _chains(rt, workspace):
            report = await verify_chain(rt, chain)
            reports.append((name, report))
            if report.ok and (head := await create_checkpoint(rt, chain)) is not None:
                signed.append(f"{name}: signed record {head.seq} ({head.head_hash[:16]})")
        return reports, signed

    reports, signed = run_with_runtime(settings_from(data_dir), job)
    for line in signed:
        console.print(line)
    if not _print_reports(reports):
        raise typer.Exit(code=1)


@app.command("export-checkpoints")
def export(
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Every signed checkpoint as JSON, to keep outside Confide (pass it to verify later)."""

    async def job(rt: Runtime) -> str:
        return json.dumps(await export_checkpoints(rt), indent=2) + "\n"

    text = run_with_runtime(settings_from(data_dir), job)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        console.print(f"Wrote {output}.")
