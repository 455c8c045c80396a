"""``confide keys``: operations on the keyring (recorded in the platform's audit chain)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.crypto.keyring import RotationReport
from confide.privacy.keys import do_rotate_keys

if TYPE_CHECKING:
    from confide.runtime import Runtime

app: typer.Typer = typer.Typer(help="Manage encryption keys.", no_args_is_help=True)


@app.command("rotate")
def rotate(data_dir: DataDirOption = None) -> None:
    """New key-encryption key for every workspace; re-wrap every data key under it.

    Data is not re-encrypted and readers keep working throughout.
    """

    async def job(rt: Runtime) -> RotationReport:
        await rt.prepare()
        return await do_rotate_keys(rt)

    report = run_with_runtime(settings_from(data_dir), job)
    console.print(
        f"Rotated the keys of {report.workspaces} workspace(s); "
        f"{report.data_keys_rewrapped} data key(s) re-wrapped."
    )
