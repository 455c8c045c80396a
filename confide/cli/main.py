"""The ``confide`` command: serve, migrate, operator management and the demo."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from confide.access.models import Role
from confide.cli import accountability as accountability_cli
from confide.cli import audit as audit_cli
from confide.cli import backup as backup_cli  # noqa: F401  (registers `confide backup`)
from confide.cli import dsr as dsr_cli
from confide.cli import jobs as jobs_cli  # also registers `confide worker`
from confide.cli import keys as keys_cli
from confide.cli import privacy as privacy_cli  # noqa: F401  (registers its commands)
from confide.cli import retention as retention_cli  # noqa: F401  (registers its commands)
from confide.cli import subjects as subjects_cli
from confide.cli.common import (
    DEBUG_ENV,
    DataDirOption,
    app,
    check_installation,
    console,
    run_app,
    run_with_runtime,
    settings_from,
)
from confide.cli.demo import DEMO_WORKSPACE, prepare_demo
from confide.core.config import Settings
from confide.core.db_use import shared_use
from confide.core.logging import configure_logging
from confide.core.memory import limit_malloc_arenas, tune_collector
from confide.runtime import Runtime

operator_app = typer.Typer(help="Create and manage operators.", no_args_is_help=True)
app.add_typer(operator_app, name="operator")
docs_app = typer.Typer(help="Generate documents from the live code.", no_args_is_help=True)
app.add_typer(docs_app, name="docs")


def _print_version(value: bool) -> None:
    if value:
        from confide import __version__

        console.print(f"confide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help=f"Show the full traceback of an unexpected error (or {DEBUG_ENV}=1)."
        ),
    ] = False,
) -> None:
    """Confide: self-hosted live chat, GDPR-compliant by design."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


async def _migrate(rt: Runtime) -> None:
    from confide.core.migrate import upgrade

    await upgrade(rt.db)
    await rt.prepare()


@app.command()
def migrate(data_dir: DataDirOption = None) -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = settings_from(data_dir)
    run_with_runtime(settings, _migrate, creates_installation=True)
    console.print("Database is up to date.")


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Skip migrating first.")] = False,
) -> None:
    """Run the web server: REST API, WebSockets and the console."""
    settings = settings_from(data_dir, host=host, port=port)
    # Before any thread starts (migrations included): see confide.core.memory.
    limit_malloc_arenas(settings.malloc_arena_max)
    if no_migrate:
        check_installation(settings)
    with shared_use(settings.resolved_database_url):  # a restore refuses meanwhile
        if not no_migrate:
            run_with_runtime(settings, _migrate, creates_installation=True)
        _serve(settings)


def _serve(settings: Settings) -> None:
    import uvicorn

    from confide.api.app import create_app

    configure_logging(settings.log_level)
    application = create_app(settings)
    # Everything imported and built so far lives as long as the server: see confide.core.memory.
    tune_collector(settings.gc_gen0_threshold)
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        access_log=False,  # it would log client IP addresses: personal data
        log_config=None,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_ping_timeout_seconds,
        # X-Forwarded-For/-Proto only from the proxies named in trusted_proxies.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
    )


@operator_app.command("create")
def operator_create(
    username: Annotated[str, typer.Option(help="Login name (lowercase).")],
    role: Annotated[Role, typer.Option(help="admin, manager, agent, analyst, or support.")],
    workspace: Annotated[
        str | None, typer.Option(help="Workspace slug (created if missing); omit for support.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    password: Annotated[
        str | None,
        typer.Option(help="Password; prompted for when omitted.", envvar="CONFIDE_NEW_PASSWORD"),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create an operator (or a platform support account with --role support)."""
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = settings_from(data_dir)

    async def job(rt: Runtime) -> uuid.UUID:
        from confide.access.operators import do_create_operator
        from confide.access.workspaces import do_create_workspace, find_workspace_by_slug

        await _migrate(rt)
        workspace_id = None
        if workspace:
            found = await find_workspace_by_slug(rt, workspace)
            if found is None:
                found = await do_create_workspace(rt, slug=workspace, name=workspace)
            workspace_id = found.id
        return await do_create_operator(
            rt,
            None,
            workspace_id=workspace_id,
            username=username.lower(),
            password=password,
            role=role,
            profile={"name": name, "email": email},
        )

    # It migrates first, so it may set up an installation (README: migrate, then this).
    operator_id = run_with_runtime(settings, job, creates_installation=True)
    stored = username.lower()
    # Login names are stored in lowercase; say so rather than echo a name that was not stored.
    note = f" (login names are lowercase; sign in as {stored})" if stored != username else ""
    console.print(f"Created {role.value} [bold]{stored}[/bold] ({operator_id}){note}.")


@operator_app.command("set-password")
def operator_set_password(
    username: Annotated[str, typer.Option(help="Login name.")],
    workspace: Annotated[str | None, typer.Option(help="Workspace slug; omit for support.")] = None,
    password: Annotated[
        str | None, typer.Option(help="New password; prompted for.", envvar="CONFIDE_NEW_PASSWORD")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Set an operator's password, unlock the account and end all its sessions."""
    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    settings = settings_from(data_dir)

    async def job(rt: Runtime) -> None:
        await _set_password(rt, workspace, username.lower(), password)

    run_with_runtime(settings, job)
    console.print(f"Password set for [bold]{username.lower()}[/bold]; its sessions were ended.")


async def _set_password(rt: Runtime, workspace: str | None, username: str, password: str) -> None:
    from confide.access.operators import do_set_password, find_operator_by_username
    from confide.access.workspaces import find_workspace_by_slug
    from confide.core.errors import NotFound

    workspace_id = None
    if workspace:
        found = await find_workspace_by_slug(rt, workspace)
        if found is None:
            raise NotFound(f"No workspace {workspace!r}.", field="workspace")
        workspace_id = found.id
    async with rt.db.session() as session:
        operator = await find_operator_by_username(session, workspace_id, username)
    if operator is None:
        raise NotFound(f"No operator {username!r} there.", field="username")
    await do_set_password(rt, operator.id, password, current_password=None)


@app.command()
def demo(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Start the server afterwards.")
    ] = True,
) -> None:
    """Create (or refresh) the demo workspace with an admin and an agent, then serve it.

    Passwords are random and printed once; running demo again sets new ones.
    """
    settings = settings_from(data_dir, host=host, port=port)
    with shared_use(settings.resolved_database_url):  # a restore refuses meanwhile
        _demo_and_serve(settings, serve_after=serve_after)


def _demo_and_serve(settings: Settings, *, serve_after: bool) -> None:
    logins = run_with_runtime(settings, _demo, creates_installation=True)
    table = Table(title="Demo logins (workspace: demo)")
    for column in ("role", "username", "password"):
        table.add_column(column)
    for role, username, password in logins:
        table.add_row(role, username, password)
    console.print(table)
    console.print(f"Console:   [bold]{settings.base_url}/console/[/bold]")
    console.print(
        f"Demo shop: [bold]{settings.base_url}/demo/{DEMO_WORKSPACE}[/bold] "
        "(a host page with the chat widget: chat there as a visitor)"
    )
    console.print(f"API:       {settings.base_url}/api/v1/openapi.json")
    if serve_after:
        _serve(settings)


async def _demo(rt: Runtime) -> list[tuple[str, str, str]]:
    await _migrate(rt)
    return await prepare_demo(rt)


@docs_app.command("privacy")
def docs_privacy(
    write: Annotated[
        bool, typer.Option("--write", help="Write docs/privacy.md instead of printing.")
    ] = False,
    path: Annotated[Path, typer.Option(help="Where --write puts it.")] = Path("docs/privacy.md"),
) -> None:
    """The personal-data inventory, generated from the registry."""
    from confide.privacy.docs import render_privacy_doc

    text = render_privacy_doc()
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        console.print(f"Wrote {path}.")
    else:
        typer.echo(text, nl=False)


app.add_typer(audit_cli.app, name="audit")
app.add_typer(jobs_cli.jobs_app, name="jobs")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(subjects_cli.app, name="subjects")
app.add_typer(dsr_cli.app, name="dsr")
app.add_typer(accountability_cli.breach_app, name="breach")
app.add_typer(accountability_cli.subprocessor_app, name="subprocessor")
app.add_typer(accountability_cli.records_app, name="records")


def main() -> None:
    run_app()


if __name__ == "__main__":
    main()
