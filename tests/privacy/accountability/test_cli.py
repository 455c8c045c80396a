"""``confide records export`` and ``confide breach list`` from the command line, against the
test's database (a real subprocess)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import World


def _confide(data_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIDE_DATA_DIR": str(data_dir),
        "CONFIDE_DATABASE_URL": database_url,
        "CONFIDE_DEPLOYMENT_REGION": "NL",
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


async def test_an_operator_exports_a_workspace_record_and_lists_platform_breaches(
    world: World, data_dir: Path, database_url: str, tmp_path: Path
) -> None:
    await world.workspace("acme")
    target = tmp_path / "acme.md"
    run = await asyncio.to_thread(
        _confide, data_dir, database_url, "records", "export", "--workspace", "acme",
        "--format", "md", "--output", str(target),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    text = target.read_text()
    assert text.startswith("# Record of processing activities")
    assert "- **Where the data is stored**: NL (inside the EEA)" in text
    annex = tmp_path / "annex.pdf"
    run = await asyncio.to_thread(
        _confide, data_dir, database_url, "records", "export", "--workspace", "acme",
        "--annex", "--output", str(annex),
    )  # fmt: skip
    assert run.returncode == 0 and annex.read_bytes().startswith(b"%PDF-")

    recorded = await asyncio.to_thread(
        _confide, data_dir, database_url, "breach", "record",
        "--title", "Leaked log file", "--nature", "A debug log was published.",
        "--workspace", "acme", "--data-categories", "operator usernames",
        "--subject-categories", "operators", "--approx-subjects", "4",
        "--approx-records", "4", "--consequences", "Phishing risk.",
        "--measures", "Log removed; passwords reset.",
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert "admins: due" in recorded.stdout and "(open)" in recorded.stdout
    listed = await asyncio.to_thread(_confide, data_dir, database_url, "breach", "list")
    assert "Leaked log file" in listed.stdout and "open" in listed.stdout
    unknown = await asyncio.to_thread(
        _confide, data_dir, database_url, "records", "export", "--workspace", "nowhere",
        "--output", str(tmp_path / "x.pdf"),
    )  # fmt: skip
    assert unknown.returncode == 1 and "field: workspace" in unknown.stderr
