"""``confide jobs``, ``confide worker --once`` and the job loop inside ``confide serve``, as real
subprocesses on the test database."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from confide.core.clock import utcnow
from confide.core.config import Settings
from confide.jobs.models import JobStatus
from confide.jobs.queue import dedupe_key_for, enqueue_in
from confide.runtime import Runtime
from tests.chat.test_multinode import free_port
from tests.jobs.helpers import jobs_of, log_ids, silence_schedules, workspace_with_logs
from tests.jobs.test_worker_process import REPO_ROOT, worker_env

START_TIMEOUT = 60.0


def confide(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "confide", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_jobs_are_queued_run_once_and_listed_from_the_command_line(
    rt: Runtime, settings: Settings, database_url: str
) -> None:
    await silence_schedules(rt)
    _, _old, new = await workspace_with_logs(rt, "acme", expired=3, fresh=1)
    env = worker_env(settings, database_url)
    env["COLUMNS"] = "200"  # one table row per line

    queued = await asyncio.to_thread(confide, env, "jobs", "enqueue", "purge_connection_logs")
    assert queued.returncode == 0, queued.stderr
    assert "Queued purge_connection_logs" in queued.stdout
    unknown = await asyncio.to_thread(confide, env, "jobs", "enqueue", "send_newsletter")
    assert unknown.returncode == 1
    assert "No job kind 'send_newsletter'" in unknown.stderr

    ran = await asyncio.to_thread(confide, env, "worker", "--once")
    assert ran.returncode == 0, ran.stderr
    assert "Worker stopped after 1 job(s)." in ran.stdout
    assert await log_ids(rt) == new
    [purge] = await jobs_of(rt, "purge_connection_logs")
    assert (purge.status, purge.items_done) == (JobStatus.SUCCEEDED, 3)

    listed = await asyncio.to_thread(confide, env, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert "purge_connection_logs" in listed.stdout and "succeeded" in listed.stdout
    assert "3 items, 1 batches" in listed.stdout
    assert str(purge.id)[:8] in listed.stdout


async def test_jobs_list_hides_finished_scheduled_runs_and_fits_80_columns(
    rt: Runtime, settings: Settings, database_url: str
) -> None:
    await silence_schedules(rt)
    env = worker_env(settings, database_url)
    env["COLUMNS"] = "80"
    # One run the schedule enqueued and one queued by hand, both succeeded.
    async with rt.db.transaction() as session:
        await enqueue_in(
            session,
            "purge_connection_logs",
            dedupe_key=dedupe_key_for("purge_connection_logs", utcnow()),
        )
    queued = await asyncio.to_thread(confide, env, "jobs", "enqueue", "deliver_due_channel_replies")
    assert queued.returncode == 0, queued.stderr
    ran = await asyncio.to_thread(confide, env, "worker", "--once")
    assert "Worker stopped after 2 job(s)." in ran.stdout, ran.stdout + ran.stderr
    [scheduled] = await jobs_of(rt, "purge_connection_logs")
    [manual] = await jobs_of(rt, "deliver_due_channel_replies")

    listed = await asyncio.to_thread(confide, env, "jobs", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(manual.id)[:8] in listed.stdout
    assert str(scheduled.id)[:8] not in listed.stdout
    assert "finished recurring runs hidden: --all" in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    # Neither the kind nor the time is cut at 80 columns.
    assert "deliver_due_channel_replies" in listed.stdout
    assert f"{manual.created_at:%Y-%m-%d %H:%M}" in listed.stdout

    everything = await asyncio.to_thread(confide, env, "jobs", "list", "--all")
    assert str(scheduled.id)[:8] in everything.stdout and str(manual.id)[:8] in everything.stdout
    assert "purge_connection_logs" in everything.stdout


def _start_serve(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "confide",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-migrate",
            ],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process


async def serve_process(
    env: dict[str, str], tmp_path: Path
) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log_path = tmp_path / "serve.log"
    process = _start_serve(env, port, log_path)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as http:
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                if (await http.get("/api/v1/health")).status_code == 200:
                    return process, url, log_path
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"serve did not start:\n{log_path.read_text()}")


async def stop_server(process: subprocess.Popen[bytes]) -> bool:
    """SIGTERM; True if the server shut down (uvicorn re-raises the signal once it has)."""
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, 30) in (0, -signal.SIGTERM)


async def test_serve_runs_the_scheduled_jobs_itself_in_single_node_mode(
    rt: Runtime, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    _, _old, new = await workspace_with_logs(rt, "acme", expired=5, fresh=2)
    env = worker_env(settings, database_url)
    if not rt.db.is_sqlite:  # the default is on for SQLite only
        env["CONFIDE_RUN_JOBS_IN_PROCESS"] = "true"
    process, _url, log_path = await serve_process(env, tmp_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while await log_ids(rt) != new:
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.1)
        [purge] = await jobs_of(rt, "purge_connection_logs")
        assert purge.locked_by is not None and f":{process.pid}:" in purge.locked_by
    finally:
        assert await stop_server(process)
    log = log_path.read_text()
    assert log.index("confide.jobs: worker") < log.index("Application startup complete")
    assert log.index(" job(s)") < log.index("Application shutdown complete")  # worker stopped


async def test_serve_leaves_jobs_to_workers_when_told_to(
    rt: Runtime, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    _, old, new = await workspace_with_logs(rt, "acme", expired=2, fresh=1)
    env = worker_env(settings, database_url, run_jobs_in_process="false")
    process, url, _log = await serve_process(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            assert (await http.get("/api/v1/health")).status_code == 200
        await asyncio.sleep(1.0)  # ten poll intervals of a worker, had one been started
        assert await jobs_of(rt) == []
        assert await log_ids(rt) == old | new
    finally:
        assert await stop_server(process)
