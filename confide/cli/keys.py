"""``confide keys``: operations on the keyring (recorded in the platform's audit chain)."""

from __future__ import annotations

import typer

from confide import audit
from confide.cli.main import DataDirOption, _run, _settings, console
from confide.crypto.keyring import RotationReport
from confide.runtime import Runtime

app: typer.Typer = typer.Typer(help="Manage encryption keys.", no_args_is_help=True)


@app.command("rotate")
def rotate(data_dir: DataDirOption = None) -> None:
    """New key-encryption key for every workspace; re-wrap every data key under it.

    Data is not re-encrypted and readers keep working throughout.
    """

    async def job(rt: Runtime) -> RotationReport:
        await rt.prepare()
        report = await rt.keyring.rotate_all()
        details = {
            "workspaces": report.workspaces,
            "data_keys_rewrapped": report.data_keys_rewrapped,
        }
        await audit.record(rt, None, "keys.rotate", resource="keyring", details=details)
        return report

    report = _run(_settings(data_dir), job)
    console.print(
        f"Rotated the keys of {report.workspaces} workspace(s); "
        f"{report.data_keys_rewrapped} data key(s) re-wrapped."
    )
