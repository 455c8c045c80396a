"""``confide keys``: operations on the keyring (recorded in the platform's audit chain)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from confide.cli.common import DataDirOption, console, run_with_runtime, settings_from
from confide.crypto.epochs import EpochReport
from confide.crypto.keyring import RotationReport
from confide.privacy.keys import do_advance_key_epoch, do_rotate_keys

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


@app.command("epoch")
def epoch(
    force: Annotated[
        bool, typer.Option("--force", help="Start an epoch even if no key was destroyed.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Start a key epoch now (the worker does it within a minute of an erasure): new KEKs for
    the workspaces that lost keys, and the old master keys destroyed.
    """

    async def job(rt: Runtime) -> EpochReport:
        return await do_advance_key_epoch(rt, force=force)

    report = run_with_runtime(settings_from(data_dir), job)
    if not report.advanced:
        console.print("No key was destroyed since the last epoch: nothing to do.")
        return
    console.print(
        f"New key epoch: {report.workspaces_rotated} workspace(s) got a new key-encryption key "
        f"({report.data_keys_rewrapped} data key(s) re-wrapped); "
        f"{report.epochs_destroyed} old master key(s) destroyed."
    )
    if not report.destruction_possible:
        console.print(
            "[yellow]The master key comes from CONFIDE_MASTER_KEY and cannot be destroyed: "
            "copies of the key store from before keep their keys (docs/architecture.md).[/yellow]"
        )
