"""``confide dsr``: data-subject requests for operators who script (GDPR Art. 12-21).

``list`` and ``show`` read cases; ``export``, ``erase`` and ``restrict`` open a case for the
person (found by e-mail or phone through the blind index, or by visitor id), carry it out and
print the signed receipt (``--receipt FILE`` writes it); ``verify-receipt FILE`` checks a
receipt with no database and no secret. Every change is recorded in the platform's audit
chain by the actions (``confide.privacy.requests``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from confide.access.workspaces import find_workspace_by_slug
from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.requests.acts import (
    do_carry_out_case,
    do_lift_restriction,
    save_case_export,
)
from confide.privacy.requests.cases import do_open_case
from confide.privacy.requests.queries import (
    case_history,
    case_ids_starting_with,
    case_receipt,
    list_cases,
)
from confide.privacy.requests.receipts import verify_receipt

if TYPE_CHECKING:
    from confide.runtime import Runtime

app: typer.Typer = typer.Typer(
    help="Data-subject requests: cases and receipts.", no_args_is_help=True
)

WorkspaceOption = Annotated[str, typer.Option(help="Workspace slug.")]
EmailOption = Annotated[str | None, typer.Option(help="The person's e-mail address.")]
PhoneOption = Annotated[str | None, typer.Option(help="The person's phone number.")]
VisitorOption = Annotated[str | None, typer.Option(help="The visitor's id.")]
ReceiptOption = Annotated[Path | None, typer.Option(help="Write the signed receipt here.")]


async def _workspace_id(rt: Runtime, slug: str) -> uuid.UUID:
    found = await find_workspace_by_slug(rt, slug)
    if found is None:
        raise NotFound("No workspace has that slug.", field="workspace")
    return found.id


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise ValidationFailed("Not an id.", field=field) from exc


MIN_PREFIX = 8


async def _case_id(rt: Runtime, value: str) -> uuid.UUID:
    """A full case id, or the first :data:`MIN_PREFIX` or more hex digits of exactly one."""
    prefix = value.strip().lower().replace("-", "")
    if len(prefix) >= 32:
        return _uuid(value, "case_id")
    if len(prefix) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in prefix):
        raise ValidationFailed(
            f"Not a case id: give the full id or at least {MIN_PREFIX} of its hex digits.",
            field="case_id",
        )
    found = await case_ids_starting_with(rt, prefix)
    if not found:
        raise NotFound(f"No case id starts with {prefix}.", field="case_id")
    if len(found) > 1:
        raise ValidationFailed(
            f"{len(found)} case ids start with {prefix}: give more digits.", field="case_id"
        )
    return found[0]


def _act(
    kind: str,
    workspace: str,
    email: str | None,
    phone: str | None,
    visitor: str | None,
    receipt: Path | None,
    data_dir: Path | None,
    out: Path | None = None,
) -> None:
    if len([o for o in (email, phone, visitor) if o]) != 1:
        console.print("[red]Error:[/red] give exactly one of --email, --phone, --visitor.")
        raise typer.Exit(code=2)

    async def job(rt: Runtime) -> dict[str, Any] | None:
        workspace_id = await _workspace_id(rt, workspace)
        case = await do_open_case(
            rt,
            None,
            workspace_id,
            kind=kind,
            channel="cli",
            email=email,
            phone=phone,
            visitor_id=_uuid(visitor, "visitor") if visitor else None,
            verified=True,
        )
        await do_carry_out_case(rt, None, case.id)
        if out is not None:
            written = await save_case_export(rt, case.id, out)
            console.print(f"Export written to {out} ({written} bytes).")
        return await case_receipt(rt, None, case.id)

    document = run_with_runtime(settings_from(data_dir), job)
    assert document is not None
    text = json.dumps(document, indent=2, sort_keys=True)
    if receipt is not None:
        receipt.write_text(text + "\n")
        console.print(f"Receipt written to {receipt}.")
    summary = document["receipt"]
    console.print(
        f"Case {summary['case_id']}: {summary['kind']} {summary['outcome']}; "
        f"counts {summary['counts']}."
    )


@app.command("list")
def list_command(
    workspace: WorkspaceOption,
    open_only: Annotated[bool, typer.Option("--open", help="Open cases only.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """A workspace's cases by urgency; overdue ones flagged."""

    async def job(rt: Runtime) -> list[Any]:
        return await list_cases(rt, None, await _workspace_id(rt, workspace), open_only=open_only)

    header = ("id", "kind", "status", "received", "due", "flag")
    rows = [
        (
            str(case.id),
            case.kind,
            case.status,
            f"{case.received_at:%Y-%m-%d}",
            f"{case.due_at:%Y-%m-%d}",
            "OVERDUE" if case.overdue else "target missed" if case.target_missed else "",
        )
        for case in run_with_runtime(settings_from(data_dir), job)
    ]
    if not console.is_terminal:  # piped: tab-separated, whole ids, for scripts
        for row in (header, *rows):
            typer.echo("\t".join(row))
        return
    table = Table(*header)
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36  # a whole id, never cut
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command("show")
def show(case_id: str, data_dir: DataDirOption = None) -> None:
    """One case with its full history (and its receipt once completed), as JSON. CASE_ID may
    be the first 8 or more hex digits of one case's id."""

    async def job(rt: Runtime) -> dict[str, Any]:
        case, history = await case_history(rt, None, await _case_id(rt, case_id))
        receipt = await case_receipt(rt, None, case.id)
        return {**case.as_dict(), "history": history, "receipt": receipt}

    typer.echo(json.dumps(run_with_runtime(settings_from(data_dir), job), indent=2))


@app.command("export")
def export(
    workspace: WorkspaceOption,
    email: EmailOption = None,
    phone: PhoneOption = None,
    visitor: VisitorOption = None,
    receipt: ReceiptOption = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the ZIP here (0600, never overwritten).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Open an access case for a person and build their export ZIP (Art. 15, 20)."""
    if out is not None and out.exists():
        console.print(f"[red]Error:[/red] {out} exists; choose a new file.")
        raise typer.Exit(code=2)
    _act("access", workspace, email, phone, visitor, receipt, data_dir, out)


@app.command("erase")
def erase(
    workspace: WorkspaceOption,
    email: EmailOption = None,
    phone: PhoneOption = None,
    visitor: VisitorOption = None,
    receipt: ReceiptOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Open an erasure case for a person and erase them (Art. 17); a legal hold stops it."""
    _act("erasure", workspace, email, phone, visitor, receipt, data_dir)


@app.command("restrict")
def restrict(
    workspace: WorkspaceOption,
    email: EmailOption = None,
    phone: PhoneOption = None,
    visitor: VisitorOption = None,
    receipt: ReceiptOption = None,
    lift: Annotated[str | None, typer.Option(help="Lift the restriction of this case.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Restrict the processing of a person's data (Art. 18), or lift it with --lift CASE."""
    if lift:

        async def job(rt: Runtime) -> None:
            await do_lift_restriction(rt, None, _uuid(lift, "lift"))

        run_with_runtime(settings_from(data_dir), job)
        console.print("Restriction lifted.")
        return
    _act("restriction", workspace, email, phone, visitor, receipt, data_dir)


@app.command("verify-receipt")
def verify_receipt_command(
    file: Path,
    public_key: Annotated[
        str | None, typer.Option(help="The workspace's published key (base64), to compare.")
    ] = None,
) -> None:
    """Check a receipt's Ed25519 signature; exit 1 if it does not verify."""
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        console.print(f"[red]INVALID:[/red] cannot read a receipt ({type(exc).__name__}).")
        raise typer.Exit(code=1) from exc
    if not isinstance(document, dict) or not verify_receipt(document, public_key):
        console.print("[red]INVALID:[/red] the signature does not match the receipt.")
        raise typer.Exit(code=1)
    console.print(f"Valid receipt of case {document['receipt']['case_id']}.")
