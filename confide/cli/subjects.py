"""``confide subjects erase``: erase a visitor, an operator, or whoever has an e-mail address
or phone number (GDPR Art. 17), recorded as ``subject.erase`` in the platform's audit chain."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer

from confide.access.workspaces import find_workspace_by_slug
from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.erasure import ErasureReport, do_erase_subject, do_erase_subjects_by

if TYPE_CHECKING:
    from confide.runtime import Runtime

app: typer.Typer = typer.Typer(help="Data subjects: erasure.", no_args_is_help=True)


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
                raise ValidationFailed("Not an id.", field=kind) from exc
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
