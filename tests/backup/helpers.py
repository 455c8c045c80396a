"""A restore target on the suite's backend (a SQLite file, or a fresh PostgreSQL database), and
the ``confide`` command run as a process of its own against a test's installation."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from confide.backup.snapshot import pg_admin
from confide.runtime import Runtime


@asynccontextmanager
async def restore_target(rt: Runtime, tmp_path: Path) -> AsyncIterator[str]:
    if rt.db.is_sqlite:
        yield f"sqlite+aiosqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"
        return
    name = f"confide_restored_{uuid.uuid4().hex[:10]}"
    await pg_admin(rt.db.url, f'CREATE DATABASE "{name}"')
    try:
        yield rt.db.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await pg_admin(rt.db.url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def confide_process(rt: Runtime, *args: str) -> subprocess.Popen[str]:
    """``confide *args`` in a new process, on ``rt``'s installation; stderr into stdout."""
    env = {
        **os.environ,
        "CONFIDE_DATA_DIR": str(rt.settings.data_dir),
        "CONFIDE_DATABASE_URL": rt.settings.resolved_database_url,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "confide", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
