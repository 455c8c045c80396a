"""``confide subjects erase``: erase a visitor, an operator, or whoever has an e-mail address
or phone number (GDPR Art. 17), recorded as ``subject.erase`` in the platform's audit chain.
``confide subjects export``: write their access/portability ZIP (Art. 15, 20) to a file,
recorded as ``subject.export`` and ``subject.export_download``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from confide.access.workspaces import find_workspace_by_slug
from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.erasure import do_erase_subject, do_erase_subjects_by
from confide.privacy.erasure_walk import ErasureReport
from confide.privacy.export import (
    ExportResult,
    build_subject_export,
    save_subject_export,
    subjects_by,
)
from confide.privacy.subject_map import PersonKind, SubjectRef

if TYPE_CHECKING:
    from confide.runtime import Runtime

app: typer.Typer = typer.Typer(help="Data subjects: erasure and export.", no_args_is_help=True)


@app.command("erase")
def erase(
    visitor: Annotated[str | None, typer.Option(help="Visitor id to erase.")] = None,
    operator: Annotated[str | None, typer.Option(help="Operator id to erase.")] = None,
    email: Annotated[str | None, typer.Option(help="Erase whoever has this e-mail.")] = None,
    phone: Annotated[str | None, typer.Option(help="Erase whoever has this phone.")] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Workspace slug (with --email/--phone).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Erase a person and everything the subject data map reaches: their conversations, the
    rows about them, and their data keys (destroyed after commit, never re-created).

    Give exactly one of --visitor, --operator, --email or --phone (the last two with
    --workspace). Safe to run again if interrupted: it finishes what remains.
    """
    chosen = [o for o in (visitor, operator, email, phone) if o]
    if len(chosen) != 1:
        console.print(
            "[red]Error:[/red] give exactly one of --visitor, --operator, --email, --phone."
        )
        raise typer.Exit(code=2)

    async def job(rt: Runtime) -> list[ErasureReport]:
        if visitor or operator:
            kind = "visitor" if visitor else "operator"
            try:
                person_id = uuid.UUID(visitor or operator or "")
            except ValueError as exc:
                raise ValidationFailed(
                    "Not an id: give the visitor's or operator's id (the console's visitor "
                    "panel shows it), not a VUID.",
                    field=kind,
                ) from exc
            return [await do_erase_subject(rt, None, kind, person_id)]
        found = await find_workspace_by_slug(rt, workspace or "")
        if found is None:
            raise NotFound("No workspace has that slug.", field="workspace")
        field_name = "email" if email else "phone"
        return await do_erase_subjects_by(rt, None, found.id, field_name, email or phone or "")

    reports = run_with_runtime(settings_from(data_dir), job)
    for report in reports:
        console.print(
            f"Erased {report.kind} (subject {report.subject_id}): "
            f"{report.conversations} conversation(s), {report.keys} key(s) destroyed."
        )


@app.command("export")
def export(
    output: Annotated[
        Path,
        typer.Option(help="Where to write the ZIP (a new file; with several people, a directory)."),
    ],
    visitor: Annotated[str | None, typer.Option(help="Visitor id to export.")] = None,
    operator: Annotated[str | None, typer.Option(help="Operator id to export.")] = None,
    email: Annotated[str | None, typer.Option(help="Export whoever has this e-mail.")] = None,
    phone: Annotated[str | None, typer.Option(help="Export whoever has this phone.")] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Workspace slug (with --email/--phone).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write everything the subject data map exports about a person to a ZIP: data.json (see
    its schema, export_schema.json), one CSV per record type, a transcript per conversation,
    the signed consent proof and manifest.json with the SHA-256 of every file.

    Give exactly one of --visitor, --operator, --email or --phone (the last two with
    --workspace). The file is created 0600 and never replaces an existing one.
    """
    chosen = [o for o in (visitor, operator, email, phone) if o]
    if len(chosen) != 1:
        console.print(
            "[red]Error:[/red] give exactly one of --visitor, --operator, --email, --phone."
        )
        raise typer.Exit(code=2)
    if output.exists() and not output.is_dir():
        console.print(f"[red]Error:[/red] {output} exists; give a new file name.")
        raise typer.Exit(code=2)

    async def job(rt: Runtime) -> list[tuple[ExportResult, Path]]:
        if visitor or operator:
            kind: PersonKind = "visitor" if visitor else "operator"
            try:
                people = [SubjectRef(kind, uuid.UUID(visitor or operator or ""))]
            except ValueError as exc:
                raise ValidationFailed(
                    "Not an id: give the visitor's or operator's id (the console's visitor "
                    "panel shows it), not a VUID.",
                    field=kind,
                ) from exc
        else:
            found = await find_workspace_by_slug(rt, workspace or "")
            if found is None:
                raise NotFound("No workspace has that slug.", field="workspace")
            field_name = "email" if email else "phone"
            people = await subjects_by(rt, None, found.id, field_name, email or phone or "")
        written = []
        for person in people:
            target = output
            if len(people) > 1 or output.is_dir():
                output.mkdir(mode=0o700, parents=True, exist_ok=True)
                target = output / f"{person.kind}-{person.person_id}.zip"
            result = await build_subject_export(rt, None, person)
            await save_subject_export(rt, result, target)
            written.append((result, target))
        return written

    for result, target in run_with_runtime(settings_from(data_dir), job):
        total = sum(result.counts.values())
        console.print(
            f"Exported {result.subject.kind} {result.subject.person_id} to {target}: "
            f"{total} record(s), {result.size_bytes} bytes, sha256 {result.sha256}."
        )
