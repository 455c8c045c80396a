"""What every ``confide`` sub-command shares: the Typer app, the consoles, the data-dir
option, running a coroutine against a fresh :class:`Runtime`, and turning expected errors
into one line on stderr.

Why the installation check: building a :class:`Runtime` creates ``instance.key``,
``master.key`` and ``keys.db`` wherever ``--data-dir`` points, so a mistyped path used to
become a new, empty installation that then failed with a database traceback. Only the
commands that set up an installation (``migrate``, ``serve``, ``demo``, ``operator create``,
which migrate first) may do that; every other command refuses before touching anything.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from confide.core.config import Settings
from confide.core.errors import ConfideError
from confide.runtime import Runtime

app = typer.Typer(
    help="Confide: self-hosted live chat, GDPR-compliant by design.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback (only with --debug) never prints local variables: they may hold passwords,
    # keys or personal data.
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")
DEBUG_ENV = "CONFIDE_DEBUG"

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: $CONFIDE_DATA_DIR or ./confide-data)."
    ),
]


def debug_enabled() -> bool:
    """True when ``--debug`` was given or ``CONFIDE_DEBUG`` is set (not ``0``/empty)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as one red ``Error:`` line on stderr and exit with ``code``."""
    err_console.print(f"[red]Error:[/red] {escape(message)}")
    raise typer.Exit(code=code)


def error_line(exc: BaseException) -> str | None:
    """The one line an expected error (``ConfideError``, an ``OSError`` on a path the operator
    named) is shown as; ``None`` for anything else, which is a bug."""
    if isinstance(exc, ConfideError):
        return exc.message + (f" (field: {exc.field})" if exc.field else "")
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__}{where}"
    return None


def settings_from(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings from the environment, with ``data_dir`` and non-``None`` overrides applied."""
    values: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite") or ":memory:" in url:
        return None
    return Path(url.split("///", 1)[1])


def check_installation(settings: Settings) -> None:
    """Exit with one line unless ``settings`` name an existing installation: the data
    directory exists and, on SQLite, so does the database file. Creates nothing."""
    hint = "run `confide migrate` first, or pass --data-dir"
    if not settings.data_dir.is_dir():
        fail(f"No Confide data directory at {settings.data_dir}: {hint}.")
    path = _sqlite_path(settings.resolved_database_url)
    if path is not None and not path.is_file():
        fail(f"No Confide database at {path}: {hint}.")


async def check_schema(settings: Settings) -> None:
    """Exit with one line unless the database carries the newest schema (``confide migrate``
    has been run since the last upgrade)."""
    from alembic.script import ScriptDirectory

    from confide.core.db import Database
    from confide.core.migrate import alembic_config, current_revision

    db = Database(settings.resolved_database_url, group_commit_max_units=1)
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # its INFO lines are noise in a worker's log
    try:
        revision = await current_revision(db)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    except Exception as exc:  # unreachable server, missing PostgreSQL database, bad file
        fail(f"Cannot open the database ({type(exc).__name__}): check CONFIDE_DATABASE_URL.")
    finally:
        alembic_log.setLevel(level)
        await db.dispose()
    if revision is None:
        fail("The database has no Confide schema: run `confide migrate` first.")
    if revision != head:
        fail(f"The database schema is at {revision}, not {head}: run `confide migrate`.")


def run_with_runtime(
    settings: Settings,
    job: Callable[[Runtime], Awaitable[T]],
    *,
    creates_installation: bool = False,
) -> T:
    """Run ``job`` against a fresh runtime and close it. Unless ``creates_installation``, an
    absent or unmigrated installation ends the command first (one line, exit code 1); a
    :class:`ConfideError` becomes one red line on stderr and exit code 1."""
    if not creates_installation:
        check_installation(settings)

    async def main() -> T:
        if not creates_installation:
            await check_schema(settings)
        rt = Runtime.from_settings(settings)
        try:
            await rt.prepare()  # the key store's schema: any act may seal an audit record
            return await job(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except ConfideError as exc:
        fail(error_line(exc) or exc.message)


def run_app() -> None:
    """Run the ``confide`` app; the one place where errors become what the operator sees.

    Expected errors (:func:`error_line`) print one line on stderr and exit 1. Anything else is
    a bug: one line naming its type, and the full traceback only with ``--debug`` or
    ``CONFIDE_DEBUG=1``.
    """
    try:
        app()
    except Exception as exc:
        line = error_line(exc)
        if line is not None:
            err_console.print(f"[red]Error:[/red] {escape(line)}")
            raise SystemExit(1) from None
        if debug_enabled():
            raise
        kind = type(exc)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        err_console.print(
            f"[red]Unexpected error ({escape(name)}):[/red] run again with --debug "
            f"(or {DEBUG_ENV}=1) for the traceback, and report it if it is not your setup."
        )
        raise SystemExit(1) from None
