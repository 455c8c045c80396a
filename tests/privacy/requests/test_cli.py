"""``confide dsr`` for operators who script: erase and restrict by e-mail with a receipt file,
list and show cases, lift a restriction, verify receipts offline."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from confide.runtime import Runtime
from tests.conftest import World
from tests.privacy.requests.helpers import EMAIL, admin, identified_visitor


def confide_cli(data_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m confide ARGS`` against the test's data directory and database."""
    env = {**os.environ, "CONFIDE_DATA_DIR": str(data_dir), "CONFIDE_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "confide", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_restrict_lift_list_show_and_verify_from_the_command_line(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    data_dir: Path,
    database_url: str,
    tmp_path: Path,
) -> None:
    headers = await admin(world)
    await identified_visitor(client, headers)

    async def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = await asyncio.to_thread(confide_cli, data_dir, database_url, *args)
        return result

    receipt_file = tmp_path / "receipt.json"
    restricted = await cli(
        "dsr",
        "restrict",
        "--workspace",
        "acme",
        "--email",
        EMAIL.upper(),
        "--receipt",
        str(receipt_file),
    )
    assert restricted.returncode == 0, restricted.stdout + restricted.stderr
    receipt = json.loads(receipt_file.read_text())
    assert receipt["receipt"]["counts"] == {"conversations_restricted": 1}
    case_id = receipt["receipt"]["case_id"]

    listed = await cli("dsr", "list", "--workspace", "acme")
    assert (
        listed.returncode == 0 and case_id[:8] in listed.stdout and "restriction" in listed.stdout
    )
    lifted = await cli("dsr", "restrict", "--workspace", "acme", "--lift", case_id)
    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    shown = json.loads((await cli("dsr", "show", case_id)).stdout)
    assert [h["action"] for h in shown["history"]] == ["opened", "completed", "restriction_lifted"]
    assert shown["receipt"] == receipt

    key = (await client.get("/api/v1/portal/acme/public-key")).json()["public_key"]
    assert (
        await cli("dsr", "verify-receipt", str(receipt_file), "--public-key", key)
    ).returncode == 0
    other_key = "A" * 43 + "="
    wrong = await cli("dsr", "verify-receipt", str(receipt_file), "--public-key", other_key)
    assert wrong.returncode == 1 and "INVALID" in wrong.stdout
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json")
    assert (await cli("dsr", "verify-receipt", str(garbage))).returncode == 1
