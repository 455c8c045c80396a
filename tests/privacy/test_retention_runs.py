"""Retention runs as an operator meets them: killed with SIGKILL and run again, run by the
worker as the ``retention`` job, reports that do not move when transcripts are destroyed, and
the overdue alert (console banner and mail) when the job has stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select, update

import confide.privacy.retention.job  # noqa: F401  (registers the retention job kinds)
from confide.access.models import Role
from confide.access.policy import Principal
from confide.chat.models import Channel, Conversation
from confide.chat.reports import read_report
from confide.core import clock
from confide.core.config import Settings
from confide.jobs.models import JobSchedule
from confide.jobs.queue import do_enqueue_job, sync_schedules
from confide.jobs.worker import Worker
from confide.privacy.retention.alerts import do_check_overdue
from confide.privacy.retention.models import ConversationStatistics, RetentionRun
from confide.privacy.retention.run import do_dry_run_retention, do_run_retention
from confide.runtime import Runtime
from tests.conftest import World
from tests.jobs.test_worker_process import REPO_ROOT, worker_env
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.helpers import admin_headers, set_privacy
from tests.privacy.retention_helpers import count, ended_at, seed_conversation, statistics_rows
from tests.web.helpers import sign_in

KILL_WAIT_SECONDS = 60.0


def _start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "confide", "retention", "run", *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _batches_committed(rt: Runtime) -> int:
    async with rt.db.session() as session:
        run = await session.scalar(select(RetentionRun).where(RetentionRun.dry_run.is_(False)))
        return run.batches if run is not None else 0


async def test_a_run_killed_mid_batch_and_rerun_ends_as_an_uninterrupted_run(
    world: World, client: httpx.AsyncClient, rt: Runtime, settings: Settings, database_url: str
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, archive_days={"web": 0})
    seeded = [await seed_conversation(rt, client, admin) for _ in range(6)]
    day = (await ended_at(rt, seeded[-1].conversation_id) + timedelta(days=1097)).date()
    expected = await do_dry_run_retention(rt, as_of=clock.utcnow() + timedelta(days=1097))
    assert expected.report is not None
    workspace = str(await world.workspace())
    assert expected.report["workspaces"][workspace]["web"]["destroyed"] == 6

    # Each batch (one conversation) waits 2 s before its commit: the kill lands inside one.
    slow = worker_env(settings, database_url, job_batch_pause_seconds="2")
    process = _start_cli(slow, "--now", day.isoformat(), "--batch-size", "1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + KILL_WAIT_SECONDS
    while await _batches_committed(rt) < 2:
        assert process.poll() is None, process.communicate()
        assert loop.time() < deadline, "the run never committed two batches"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # inside the third batch's transaction
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    partial = await count(rt, Conversation)
    assert 0 < partial < 6

    rerun = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "confide", "retention", "run", "--now", day.isoformat()],
        env=worker_env(settings, database_url),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "destroyed 6" in rerun.stdout  # the resumed run's total: nothing counted twice
    async with rt.db.session() as session:
        runs = (
            await session.scalars(select(RetentionRun).where(RetentionRun.dry_run.is_(False)))
        ).all()
    [run] = runs  # resumed, not started again
    assert run.status == "finished" and run.report is not None
    done, dry = run.report["workspaces"][workspace], expected.report["workspaces"][workspace]
    for channel in done:  # the dry run counts conversations, not the visitors they free
        for name in ("statistics", "archived", "destroyed", "held"):
            assert done[channel][name] == dry[channel][name], (channel, name)
    assert done["web"]["visitors_erased"] == 6
    assert await count(rt, Conversation) == 0
    rows = await statistics_rows(rt)
    assert len(rows) == 6 and all(r["conversation_id"] is None for r in rows)


async def test_the_worker_runs_the_daily_retention_job(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    await set_privacy(client, admin, retention_days={"web": 1}, archive_days={"web": 0})
    seeded = await seed_conversation(rt, client, admin)
    await sync_schedules(rt)
    async with rt.db.transaction() as tx:
        kinds = set((await tx.scalars(select(JobSchedule.kind))).all())
        await tx.execute(update(JobSchedule).values(next_run_at=clock.utcnow() + timedelta(1)))
    assert {"retention", "retention_alert"} <= kinds
    clock.advance(2 * 86_400)
    await do_enqueue_job(rt, "retention")
    assert await Worker(rt).run(once=True) >= 1
    async with rt.db.session() as session:
        assert await session.get(Conversation, seeded.conversation_id) is None
        run = await session.scalar(select(RetentionRun))
    assert run is not None and run.status == "finished"


async def test_reports_are_identical_before_and_after_transcripts_are_destroyed(
    world: World, client: httpx.AsyncClient, rt: Runtime
) -> None:
    admin = await admin_headers(world)
    for score in (1, 3, 5, 5, 4):
        await seed_conversation(rt, client, admin, csat=score)
    await seed_conversation(rt, client, admin, Channel.SMS, csat=None)
    ws = await world.workspace()
    principal = Principal(kind="operator", workspace_id=ws, role=Role.ADMIN)
    today = clock.utcnow().date()
    span = {"start": today - timedelta(days=7), "end": today + timedelta(days=7)}
    await do_run_retention(rt, as_of=clock.utcnow() + timedelta(days=1))  # statistics only
    before = await read_report(rt, principal, **span)
    assert before["conversations"] == 6
    assert before["csat"]["distribution"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 2}
    assert before["csat"]["average"] == 3.6
    await do_run_retention(rt, as_of=clock.utcnow() + timedelta(days=1095 + 1825 + 2))
    assert await count(rt, Conversation) == 0
    after = await read_report(rt, principal, **span)
    assert after == before
    assert await count(rt, ConversationStatistics) == 6


@pytest.fixture
def smtp_settings(settings: Settings, mailbox: MailBox) -> Settings:
    return with_smtp(settings, mailbox)


async def test_overdue_alert_fires_when_the_job_stopped_for_two_days(
    world: World,
    client: httpx.AsyncClient,
    rt: Runtime,
    mailbox: MailBox,
    smtp_settings: Settings,
) -> None:
    rt.settings = smtp_settings
    root = await world.operator("root", Role.ADMIN, email="root.admin@example.invalid")
    admin = await world.headers(root)
    await set_privacy(client, admin, retention_days={"sms": 10}, archive_days={"sms": 0})
    seeded = await seed_conversation(rt, client, admin, Channel.SMS)
    due = await ended_at(rt, seeded.conversation_id) + timedelta(days=10)
    # The job ran the day before it was due: nothing to do, nothing overdue.
    await do_run_retention(rt, as_of=due - timedelta(days=1))
    assert await do_check_overdue(rt, due - timedelta(days=1)) == []
    # Then it stops; two days later the alert fires, once a day.
    clock.advance((due - clock.utcnow()).total_seconds() + 2 * 86_400)
    assert await do_check_overdue(rt) == [await world.workspace()]
    assert await do_check_overdue(rt) == [await world.workspace()]
    [mail] = await mailbox.wait_for(1)
    assert mail["To"] == "root.admin@example.invalid"
    assert "sms: end_of_life was due" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await sign_in(world, root)
    page = await client.get("/console/settings/retention")
    assert 'id="retention-overdue"' in page.text and "(overdue)" in page.text
    # The job runs again: the banner goes.
    await do_run_retention(rt)
    assert await do_check_overdue(rt) == []
    page = await client.get("/console/settings/retention")
    assert 'id="retention-overdue"' not in page.text
    assert 'id="retention-report"' in page.text
    assert len(mailbox.messages) == 1


def _unused(_: date) -> None:
    return None


async def test_old_run_reports_are_pruned_by_the_next_run_and_the_pruning_is_audited(
    world: World, rt: Runtime
) -> None:
    from confide.audit.models import AuditEvent

    await world.workspace()
    old_run = await do_run_retention(rt)
    old_dry = await do_dry_run_retention(rt)
    clock.advance((rt.settings.retention_run_keep_days - 1) * 86_400)
    recent = await do_run_retention(rt)
    assert await count(rt, RetentionRun) == 3  # nothing is old enough yet
    clock.advance(2 * 86_400)  # the first two are now past retention_run_keep_days
    latest = await do_dry_run_retention(rt)
    assert await count(rt, RetentionRun) == 4  # a dry run prunes nothing
    newest = await do_run_retention(rt)
    async with rt.db.session() as session:
        left = set((await session.scalars(select(RetentionRun.id))).all())
        pruned = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "retention.runs_pruned")
            )
        ).all()
    assert left == {recent.id, latest.id, newest.id}
    assert old_run.id not in left and old_dry.id not in left
    assert len(pruned) == 1 and pruned[0].workspace_id is None
