"""``confide breach``, ``confide subprocessor`` and ``confide records``: the deployment
operator's side of accountability (GDPR Art. 28, 30, 33), for scripts and cron.

Platform breaches (the processor's) and the deployment's own subprocessors are recorded here,
in the platform's audit chain; a workspace's own breaches and subprocessors are managed by its
admins in the console or the API. ``confide records`` writes a workspace's record of processing
or DPA annex as Markdown, JSON or PDF.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from confide.access.workspaces import find_workspace_by_slug
from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.core.clock import utcnow
from confide.core.errors import NotFound, ValidationFailed
from confide.privacy.accountability import breach_notices, breaches, render, subprocessors
from confide.privacy.accountability.annex import annex_of_workspace
from confide.privacy.accountability.breaches import BreachFacts
from confide.privacy.accountability.processing_record import record_of_workspace

if TYPE_CHECKING:
    from confide.runtime import Runtime

breach_app = typer.Typer(
    help="The platform's breach register (GDPR Art. 33).", no_args_is_help=True
)
subprocessor_app = typer.Typer(
    help="The deployment's subprocessors (every workspace's record lists them).",
    no_args_is_help=True,
)
records_app = typer.Typer(help="Records of processing (Art. 30) and DPA annexes.")


async def _workspace_ids(rt: Runtime, slugs: list[str]) -> list[uuid.UUID]:
    ids = []
    for slug in slugs:
        found = await find_workspace_by_slug(rt, slug)
        if found is None:
            raise NotFound(f"No workspace has the slug {slug!r}.", field="workspace")
        ids.append(found.id)
    return ids


def _split(values: str) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()]


@breach_app.command("record")
def record_breach(
    title: Annotated[str, typer.Option(help="Short name of the incident.")],
    nature: Annotated[str, typer.Option(help="What happened (Art. 33(3)(a)).")],
    workspace: Annotated[list[str], typer.Option(help="Slug of an affected workspace (repeat).")],
    data_categories: Annotated[str, typer.Option(help="Comma-separated categories of data.")],
    subject_categories: Annotated[str, typer.Option(help="Comma-separated subject categories.")],
    approx_subjects: Annotated[int, typer.Option(help="Approximate number of people.")],
    approx_records: Annotated[int, typer.Option(help="Approximate number of records.")],
    consequences: Annotated[str, typer.Option(help="Likely consequences (Art. 33(3)(c)).")],
    measures: Annotated[str, typer.Option(help="Measures taken or proposed (Art. 33(3)(d)).")],
    detected_at: Annotated[
        dt.datetime | None, typer.Option(help="When it was detected (UTC; default: now).")
    ] = None,
    high_risk: Annotated[bool, typer.Option(help="High risk to the people (Art. 34).")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Record a platform breach; the affected workspaces' admins are then due a notification
    within 24 hours (``confide breach notify``)."""
    detected = detected_at.replace(tzinfo=dt.UTC) if detected_at else utcnow()

    async def job(rt: Runtime) -> dict[str, Any]:
        facts = BreachFacts(
            title=title,
            nature=nature,
            detected_at=detected,
            data_categories=_split(data_categories),
            subject_categories=_split(subject_categories),
            approx_subjects=approx_subjects,
            approx_records=approx_records,
            consequences=consequences,
            measures=measures,
            high_risk=high_risk,
        )
        affected = await _workspace_ids(rt, workspace)
        return await breaches.do_record_breach(rt, None, facts, affected_workspace_ids=affected)

    breach = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Recorded breach {breach['id']}.")
    _print_deadlines(breach)


def _print_deadlines(breach: dict[str, Any]) -> None:
    for deadline in breach["deadlines"]:
        console.print(f"  {deadline['audience']}: due {deadline['due_at']} ({deadline['state']})")


@breach_app.command("notify")
def notify_breach(
    breach_id: Annotated[str, typer.Argument(help="The breach's id.")],
    reference: Annotated[
        str | None, typer.Option(help="Told by other means: how (otherwise e-mailed).")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """E-mail the admins of every affected workspace (SMTP must be configured), or record with
    --reference that they were told otherwise."""
    try:
        breach_uuid = uuid.UUID(breach_id)
    except ValueError as exc:
        raise typer.BadParameter("Not a breach id.") from exc

    async def job(rt: Runtime) -> dict[str, Any]:
        await breach_notices.do_notify_breach(rt, None, breach_uuid, "admins", reference=reference)
        listed = [b for b in await breaches.list_breaches(rt, None) if b["id"] == breach_id]
        if not listed:
            raise ValidationFailed("No such breach.", field="breach_id")
        return listed[0]

    breach = run_with_runtime(settings_from(data_dir), job)
    for note in breach["notifications"]:
        console.print(
            f"  workspace {note['workspace_id']}: {note['status']} ({note['recipients']} sent)"
        )
    _print_deadlines(breach)


@breach_app.command("list")
def list_breaches(data_dir: DataDirOption = None) -> None:
    """The platform's breaches with their deadlines."""

    async def job(rt: Runtime) -> list[dict[str, Any]]:
        return await breaches.list_breaches(rt, None)

    table = Table("id", "title", "aware at", "admins due", "state")
    for breach in run_with_runtime(settings_from(data_dir), job):
        [deadline] = breach["deadlines"]
        table.add_row(
            breach["id"], breach["title"], breach["aware_at"], deadline["due_at"], deadline["state"]
        )
    console.print(table)


@subprocessor_app.command("add")
def add_subprocessor(
    name: Annotated[str, typer.Option(help="The organisation.")],
    service: Annotated[str, typer.Option(help="What it does with the data.")],
    country: Annotated[str, typer.Option(help="Where (ISO 3166-1 alpha-2, e.g. DE).")],
    host: Annotated[str | None, typer.Option(help="Host it receives data at.")] = None,
    safeguard: Annotated[
        str | None, typer.Option(help="Outside the EEA: 'adequacy' or 'scc'.")
    ] = None,
    safeguard_date: Annotated[
        dt.datetime | None, typer.Option(help="Date the SCCs were signed.", formats=["%Y-%m-%d"])
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add one of the deployment's subprocessors; refused outside the EEA without a safeguard."""

    async def job(rt: Runtime) -> dict[str, Any]:
        return await subprocessors.do_add_subprocessor(
            rt,
            None,
            name=name,
            service=service,
            country=country,
            host=host,
            safeguard=safeguard,
            safeguard_date=safeguard_date.date() if safeguard_date else None,
        )

    added = run_with_runtime(settings_from(data_dir), job)
    console.print(f"Added subprocessor {added['id']} ({added['name']}, {added['country']}).")


@subprocessor_app.command("remove")
def remove_subprocessor(
    subprocessor_id: Annotated[str, typer.Argument(help="The subprocessor's id.")],
    data_dir: DataDirOption = None,
) -> None:
    """Remove one of the deployment's subprocessors."""

    async def job(rt: Runtime) -> None:
        try:
            target = uuid.UUID(subprocessor_id)
        except ValueError as exc:
            raise ValidationFailed("Not an id.", field="subprocessor_id") from exc
        await subprocessors.do_remove_subprocessor(rt, None, target)

    run_with_runtime(settings_from(data_dir), job)
    console.print("Removed.")


@subprocessor_app.command("list")
def list_subprocessors(data_dir: DataDirOption = None) -> None:
    """The deployment's subprocessors."""

    async def job(rt: Runtime) -> list[dict[str, Any]]:
        async with rt.db.session() as session:
            rows = await subprocessors.visible_subprocessors(session, None)
        return [subprocessors.render_subprocessor(r) for r in rows]

    table = Table("id", "name", "service", "country", "safeguard")
    for row in run_with_runtime(settings_from(data_dir), job):
        safeguard = row["safeguard"] or "EEA"
        if row["safeguard_date"]:
            safeguard += f" ({row['safeguard_date']})"
        table.add_row(row["id"], row["name"], row["service"], row["country"], safeguard)
    console.print(table)


@records_app.command("export")
def export_record(
    workspace: Annotated[str, typer.Option(help="The workspace's slug.")],
    output: Annotated[Path, typer.Option(help="File to write.")],
    format: Annotated[str, typer.Option(help="md, json or pdf.")] = "pdf",
    annex: Annotated[bool, typer.Option(help="The DPA annex instead of the record.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write a workspace's record of processing (or DPA annex) from its live configuration."""
    if format not in ("md", "json", "pdf"):
        raise typer.BadParameter("Use md, json or pdf.", param_hint="--format")

    async def job(rt: Runtime) -> bytes:
        [workspace_id] = await _workspace_ids(rt, [workspace])
        build = annex_of_workspace if annex else record_of_workspace
        doc = await build(rt, workspace_id)
        if format == "pdf":
            return await render.to_pdf(doc)
        text = render.to_markdown(doc) if format == "md" else render.to_json(doc)
        return text.encode()

    output.write_bytes(run_with_runtime(settings_from(data_dir), job))
    console.print(f"Wrote {output}.")
