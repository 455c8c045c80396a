"""The ``confide`` command line, run as a real subprocess against a temporary data directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from confide.access import auth
from confide.api.app import create_app
from confide.core.config import Settings
from confide.runtime import Runtime
from tests.conftest import PASSWORD


def _confide(
    data_dir: Path, *args: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIDE_DATA_DIR": str(data_dir),
        "CONFIDE_ARGON2_MEMORY_KIB": "1024",
        "CONFIDE_ARGON2_TIME_COST": "1",
        "CONFIDE_ARGON2_PARALLELISM": "1",
    }
    if database_url:
        env["CONFIDE_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "confide", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["serve", "--help"],
        ["migrate", "--help"],
        ["operator", "create", "--help"],
        ["demo", "--help"],
        ["docs", "privacy", "--help"],
    ],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = _confide(tmp_path, *command)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_demo_creates_a_workspace_whose_printed_logins_work(
    tmp_path: Path, rt: Runtime, database_url: str
) -> None:
    result = _confide(tmp_path, "demo", "--no-serve", database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "/console/" in result.stdout
    shop_url = re.search(r"(http://\S+)(/demo/demo)\b", result.stdout)
    assert shop_url is not None, result.stdout
    base, demo_path = shop_url.groups()
    passwords = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 3 and cells[1] in ("demo-admin", "demo-agent"):
            passwords[cells[1]] = cells[2]
    assert set(passwords) == {"demo-admin", "demo-agent"}
    key = tmp_path / "instance.key"
    assert key.stat().st_mode & 0o777 == 0o600

    async def check() -> None:
        rt = Runtime.from_settings(
            Settings(data_dir=tmp_path, database_url=database_url, argon2_memory_kib=1024)
        )
        try:
            outcome = await auth.login(
                rt,
                workspace_slug="demo",
                username="demo-admin",
                password=passwords["demo-admin"],
                transport="token",
            )
            assert outcome.tokens is not None
            # The printed demo shop page exists and embeds the widget for the demo workspace.
            transport = httpx.ASGITransport(app=create_app(runtime=rt))
            async with httpx.AsyncClient(transport=transport, base_url=base) as http:
                shop = await http.get(demo_path)
            assert shop.status_code == 200
            assert 'data-workspace="demo"' in shop.text and "/widget.js" in shop.text
            # The demo shows the privacy features on: consent asked before chatting (with every
            # request the widget offers), e-mail and phone masking, a complete Art. 30 record.
            async with httpx.AsyncClient(transport=transport, base_url=base) as http:
                headers = {"Authorization": f"Bearer {outcome.tokens.access_token}"}
                privacy = (await http.get("/api/v1/workspace", headers=headers)).json()
                record = (await http.get("/api/v1/records/processing", headers=headers)).json()
                widget = (await http.get("/api/v1/widget/demo/config")).json()
            assert privacy["settings"]["consent_required"] is True
            assert privacy["settings"]["redact_emails"] and privacy["settings"]["redact_phones"]
            assert set(widget["consent"]["requests"]) == {
                "chat",
                "preview",
                "mirroring",
                "cobrowsing",
            }
            # Only the deployment's own facts are left to set (not the demo's to invent).
            assert record["missing"] == ["deployment_region", "processor_name"]
        finally:
            await rt.close()

    import asyncio

    asyncio.run(check())
    # Running demo again is idempotent and issues new passwords.
    again = _confide(tmp_path, "demo", "--no-serve", database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert passwords["demo-admin"] not in again.stdout


def test_operator_create_makes_an_operator_and_refuses_a_duplicate(
    tmp_path: Path, rt: Runtime, database_url: str
) -> None:
    args = [
        "operator",
        "create",
        "--workspace",
        "acme",
        "--username",
        "root-admin",
        "--role",
        "admin",
        "--name",
        "Root Example",
        "--password",
        PASSWORD,
    ]
    first = _confide(tmp_path, *args, database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "Created admin" in first.stdout
    second = _confide(tmp_path, *args, database_url=database_url)
    assert second.returncode == 1
    assert "already taken" in second.stderr


def test_operator_create_refuses_a_weak_password(tmp_path: Path) -> None:
    result = _confide(
        tmp_path,
        "operator",
        "create",
        "--workspace",
        "acme",
        "--username",
        "x",
        "--role",
        "agent",
        "--password",
        "short",
    )
    assert result.returncode == 1
    assert "at least 12 characters" in result.stderr


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    assert _confide(tmp_path, "migrate").returncode == 0
    again = _confide(tmp_path, "migrate")
    assert again.returncode == 0
    assert "up to date" in again.stdout


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from confide import __version__

    result = _confide(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"confide {__version__}"


def test_operator_create_says_which_login_name_was_stored(
    tmp_path: Path, rt: Runtime, database_url: str
) -> None:
    args = ["operator", "create", "--workspace", "acme", "--username", "Bob", "--role", "agent"]
    result = _confide(tmp_path, *args, "--password", PASSWORD, database_url=database_url)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "Created agent bob" in said and "sign in as bob" in said
    assert "Bob" not in said.replace("--username Bob", "")
