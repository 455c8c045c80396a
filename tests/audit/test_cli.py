"""``confide audit`` and ``confide keys rotate``, run as real subprocesses on the test's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from confide.audit import ledger
from confide.audit.verify import verify_chain
from confide.runtime import Runtime
from tests.audit.helpers import chain, fill_chain, tamper
from tests.conftest import World


def _confide(data_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIDE_DATA_DIR": str(data_dir),
        "CONFIDE_DATABASE_URL": database_url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "confide", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_verify_exits_0_on_a_clean_chain_and_1_after_tampering(
    rt: Runtime, world: World, data_dir: Path, database_url: str
) -> None:
    workspace_id = await world.workspace("acme")
    await fill_chain(rt, workspace_id, 5)

    clean = _confide(data_dir, database_url, "audit", "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "acme" in clean.stdout and "intact" in clean.stdout

    await tamper(rt, workspace_id, 3, action="conversation.list")
    tampered = _confide(data_dir, database_url, "audit", "verify", "--workspace", "acme")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "TAMPERED" in tampered.stdout
    assert "edited at seq 3" in tampered.stdout


async def test_checkpoint_export_and_verify_against_the_export(
    rt: Runtime, world: World, data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    workspace_id = await world.workspace("acme")
    events = await fill_chain(rt, workspace_id, 3)
    signed = _confide(data_dir, database_url, "audit", "checkpoint")
    assert signed.returncode == 0, signed.stdout + signed.stderr
    assert "acme: signed record 3" in signed.stdout

    export = tmp_path / "checkpoints.json"
    exported = _confide(
        data_dir, database_url, "audit", "export-checkpoints", "--output", str(export)
    )
    assert exported.returncode == 0, exported.stderr
    document = json.loads(export.read_text())
    assert [(c["workspace_id"], c["seq"], c["head_hash"]) for c in document["checkpoints"]] == [
        (str(workspace_id), 3, events[-1].hash)
    ]
    checked = _confide(data_dir, database_url, "audit", "verify", "--checkpoints", str(export))
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_checkpoint_refuses_to_sign_a_tampered_chain(
    rt: Runtime, world: World, data_dir: Path, database_url: str
) -> None:
    workspace_id = await world.workspace("acme")
    await fill_chain(rt, workspace_id, 3)
    await tamper(rt, workspace_id, 2, resource=f"conversation:{uuid.uuid4()}")
    result = _confide(data_dir, database_url, "audit", "checkpoint")
    assert result.returncode == 1
    assert "signed record" not in result.stdout
    assert (await verify_chain(rt, workspace_id)).checkpoints == 0


async def test_keys_rotate_is_recorded_in_the_platform_chain(
    rt: Runtime, world: World, data_dir: Path, database_url: str
) -> None:
    workspace_id = await world.workspace("acme")
    await fill_chain(rt, workspace_id, 2)  # creates the workspace's keys
    result = _confide(data_dir, database_url, "keys", "rotate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "re-wrapped" in result.stdout
    platform = await chain(rt, None)
    assert [(e.action, e.actor_kind, e.resource) for e in platform] == [
        ("keys.rotate", "system", "keyring")
    ]
    assert platform[0].source.startswith("local@")
    assert (await verify_chain(rt, None)).ok
    # Rotation re-wrapped the subjects' keys: the details recorded before still read.
    rt.keyring.forget()
    report = await verify_chain(rt, workspace_id)
    assert report.ok
    first = (await chain(rt, workspace_id))[0]
    assert await ledger.read_details(rt, first) == ({"n": 1}, False)
