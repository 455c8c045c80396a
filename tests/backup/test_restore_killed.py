"""A restore killed with SIGKILL part-way leaves the target untouched (SQLite: the file is
only renamed into place once complete; PostgreSQL: pg_restore runs in one transaction), and
running the same command again completes it (issue 19). Driven through the real CLI."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select, text

from confide.access.models import Operator, Role
from confide.backup.actions import do_create_backup
from confide.core.db import Database
from confide.jobs.models import Job, JobStatus
from confide.runtime import Runtime
from tests.backup.helpers import confide_process, restore_target
from tests.conftest import World

FILLER_ROWS = 40_000  # incompressible payloads: enough bytes that the restore takes a while


async def _fill(rt: Runtime) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "kind": "filler",
            "status": JobStatus.SUCCEEDED,
            "payload": {"noise": secrets.token_hex(200)},
        }
        for _ in range(FILLER_ROWS)
    ]
    async with rt.db.transaction() as session:
        await session.execute(insert(Job), rows)


async def _started(rt: Runtime, target: str) -> bool:
    """Evidence that the restore is writing into the target."""
    if target.startswith("sqlite"):
        partial = Path(target.split("///", 1)[1] + ".restoring")
        return partial.exists() and partial.stat().st_size > 0
    name = target.rsplit("/", 1)[1]
    async with rt.db.session() as session:
        found = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n").bindparams(n=name)
        )
    return bool(found)


async def test_a_restore_killed_with_sigkill_runs_again_to_completion(
    world: World, rt: Runtime, tmp_path: Path
) -> None:
    await world.operator("ada", Role.ADMIN)
    await _fill(rt)
    manifest = await do_create_backup(rt)
    async with restore_target(rt, tmp_path) as target:
        process = confide_process(rt, "backup", "restore", manifest["id"], "--to", target)
        deadline = time.monotonic() + 60
        while not await _started(rt, target):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL
        if target.startswith("sqlite"):
            assert not Path(target.split("///", 1)[1]).exists()  # never half in place

        rerun = confide_process(rt, "backup", "restore", manifest["id"], "--to", target)
        output, _ = await asyncio.to_thread(rerun.communicate, timeout=300)
        assert rerun.returncode == 0, output
        assert f"Restored {manifest['id']}" in output
        restored = Database(target)
        try:
            async with restored.session() as session:
                jobs = await session.scalar(
                    select(func.count()).select_from(Job).where(Job.kind == "filler")
                )
                operators = (await session.scalars(select(Operator.username))).all()
        finally:
            await restored.dispose()
        assert jobs == FILLER_ROWS and list(operators) == ["ada"]
