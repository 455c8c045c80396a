"""What every ``confide`` sub-command shares: the Typer app, the console, the data-dir
option, and running a coroutine against a fresh :class:`Runtime` (errors as one red line)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from confide.core.config import Settings
from confide.core.errors import ConfideError
from confide.runtime import Runtime

app = typer.Typer(
    help="Confide: self-hosted live chat, GDPR-compliant by design.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
T = TypeVar("T")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (default: $CONFIDE_DATA_DIR or ./confide-data)."
    ),
]


def settings_from(data_dir: Path | None, **overrides: object) -> Settings:
    """Settings from the environment, with ``data_dir`` and non-``None`` overrides applied."""
    values: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)  # type: ignore[arg-type]


def run_with_runtime(settings: Settings, job: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``job`` against a fresh runtime and close it; a :class:`ConfideError` becomes a red
    message and exit code 1."""

    async def main() -> T:
        rt = Runtime.from_settings(settings)
        try:
            await rt.prepare()  # the key store's schema: any act may seal an audit record
            return await job(rt)
        finally:
            await rt.close()

    try:
        return asyncio.run(main())
    except ConfideError as exc:
        console.print(
            f"[red]Error:[/red] {exc.message}" + (f" (field: {exc.field})" if exc.field else "")
        )
        raise typer.Exit(code=1) from exc
