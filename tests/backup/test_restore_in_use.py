"""A restore refuses, in one line and having changed nothing, while a server or worker uses the
target database; once it has stopped the restore works; a server or worker will not start
while a restore runs; and a restore leaves no scratch files beside a SQLite target, whether it
succeeds or fails (``confide.core.db_use``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from confide.access.models import Role
from confide.backup.actions import do_create_backup
from confide.backup.restore import do_restore_backup
from confide.core.db import Database
from confide.core.db_use import sole_use
from confide.core.errors import BackupInvalid
from confide.jobs.models import Job, JobStatus
from confide.runtime import Runtime
from tests.backup.helpers import confide_process, restore_target
from tests.conftest import World

# Another process using the target the way a server does: on SQLite the lock `confide serve`
# and `confide worker` take, on PostgreSQL an open session. It holds on until stdin closes.
HOLD_SQLITE = """
import sys
from confide.core.db_use import shared_use
with shared_use(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()
"""
HOLD_POSTGRES = """
import asyncio, sys
from sqlalchemy import text
from confide.core.db import Database
async def main():
    db = Database(sys.argv[1])
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
        print("holding", flush=True)
        await asyncio.to_thread(sys.stdin.read)
    await db.dispose()
asyncio.run(main())
"""


def _holder(target: str) -> subprocess.Popen[str]:
    script = HOLD_SQLITE if target.startswith("sqlite") else HOLD_POSTGRES
    return subprocess.Popen(
        [sys.executable, "-c", script, target],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


@asynccontextmanager
async def _server_on(target: str) -> AsyncIterator[None]:
    process = _holder(target)
    try:
        assert process.stdout is not None
        assert (await asyncio.to_thread(process.stdout.readline)).strip() == "holding"
        yield
    finally:
        assert process.stdin is not None
        process.stdin.close()
        await asyncio.to_thread(process.wait, 30)


async def _markers(target: str) -> int:
    db = Database(target)
    try:
        async with db.session() as session:
            found = await session.scalar(
                select(func.count()).select_from(Job).where(Job.kind == "marker")
            )
    finally:
        await db.dispose()
    return int(found or 0)


async def _mark(target: str) -> None:
    db = Database(target)
    try:
        async with db.transaction() as session:
            session.add(Job(id=uuid.uuid4(), kind="marker", status=JobStatus.SUCCEEDED))
    finally:
        await db.dispose()


def _scratch(target: str) -> list[str]:
    if not target.startswith("sqlite"):
        return []
    database = Path(target.split("///", 1)[1])
    return sorted(p.name for p in database.parent.iterdir() if ".restoring" in p.name)


async def test_a_restore_is_refused_while_a_server_uses_the_target(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    manifest = await do_create_backup(rt)
    async with restore_target(rt, tmp_path) as target:
        await do_restore_backup(rt, manifest["id"], target)
        assert _scratch(target) == []
        await _mark(target)  # written since: a restore would take it away
        inode = Path(target.split("///", 1)[1]).stat().st_ino if rt.db.is_sqlite else None

        async with _server_on(target):
            refused = confide_process(rt, "backup", "restore", manifest["id"], "--to", target)
            output, _ = await asyncio.to_thread(refused.communicate, timeout=120)
            assert refused.returncode == 1, output
            lines = output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error:"), output
            if rt.db.is_sqlite:
                assert "in use by a running Confide server or worker" in output
            else:
                assert "1 other session(s) are connected" in output
            assert "nothing was restored" in output
            assert await _markers(target) == 1
            assert _scratch(target) == []
            if inode is not None:
                assert Path(target.split("///", 1)[1]).stat().st_ino == inode

        await do_restore_backup(rt, manifest["id"], target)  # the server has stopped
        assert await _markers(target) == 0
        assert _scratch(target) == []


@pytest.mark.sqlite  # on PostgreSQL the restore checks for sessions; it holds no lock
async def test_a_server_or_worker_will_not_start_during_a_restore(rt: Runtime) -> None:
    async with sole_use(rt.db.url):
        # serve would listen (until the timeout) if it started: it must not get that far.
        for command in (("worker", "--once"), ("serve", "--no-migrate", "--port", "18765")):
            process = confide_process(rt, *command)
            try:
                output, _ = await asyncio.to_thread(process.communicate, timeout=60)
            finally:
                process.kill()
            assert process.returncode == 1, output
            assert "A restore into" in output and "is under way" in output, output
    # Once the restore is over, the worker starts.
    process = confide_process(rt, "worker", "--once")
    output, _ = await asyncio.to_thread(process.communicate, timeout=120)
    assert process.returncode == 0, output


async def test_a_failed_restore_leaves_nothing_beside_the_target(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    manifest = await do_create_backup(rt)
    path = rt.settings.resolved_backups_dir / manifest["id"] / "data.cfs"
    blob = bytearray(path.read_bytes())
    blob[-40] ^= 0x01
    path.write_bytes(bytes(blob))
    async with restore_target(rt, tmp_path) as target:
        with pytest.raises(BackupInvalid):
            await do_restore_backup(rt, manifest["id"], target)
        assert _scratch(target) == []
