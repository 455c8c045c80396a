"""The built-in job kinds, run by a worker: channel replies left pending are sent, old finished
jobs are pruned."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from confide.chat import channels
from confide.chat.channels import outbound
from confide.core import clock
from confide.jobs.models import Job, JobStatus
from confide.jobs.queue import do_enqueue_job
from confide.jobs.worker import Worker
from confide.runtime import Runtime
from tests.chat.test_channels import (  # noqa: F401  (fixtures)
    Receiver,
    _reply,
    admin,
    configure,
    hook,
    inbound,
    receiver,
    signed,
    team,
)
from tests.jobs.helpers import jobs_of, silence_schedules

DELIVER = "deliver_due_channel_replies"


async def test_the_worker_sends_a_channel_reply_left_pending_once(
    client: httpx.AsyncClient,
    admin: dict[str, str],  # noqa: F811
    receiver: Receiver,  # noqa: F811
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = (await configure(client, admin, "sms", receiver.url)).json()["signing_secret"]
    body = inbound()
    conversation_id = (await hook(client, body, signed(secret, body))).json()["conversation_id"]
    await channels.drain()
    # The server "dies" right after the commit: no background attempt is made.
    monkeypatch.setattr(outbound, "start_delivery", lambda rt, delivery_id: None)
    await _reply(client, admin, conversation_id, "Sent by the worker")
    assert receiver.received == []

    await Worker(rt).run(once=True)  # the first scheduled run of every recurring kind
    assert len(receiver.received) == 1
    [run] = await jobs_of(rt, DELIVER)
    assert (run.status, run.items_done) == (JobStatus.SUCCEEDED, 1)

    clock.advance(61)  # the next run finds nothing due and sends nothing again
    await Worker(rt).run(once=True)
    runs = await jobs_of(rt, DELIVER)
    assert [(r.status, r.items_done) for r in runs] == [
        (JobStatus.SUCCEEDED, 1),
        (JobStatus.SUCCEEDED, 0),
    ]
    assert len(receiver.received) == 1


async def test_finished_jobs_are_pruned_after_the_history_period(rt: Runtime) -> None:
    await silence_schedules(rt)
    old = await do_enqueue_job(rt, "purge_connection_logs")
    await Worker(rt).run(once=True)
    recent = await do_enqueue_job(rt, "purge_connection_logs")
    await Worker(rt).run(once=True)
    async with rt.db.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == old)
            .values(finished_at=clock.utcnow() - timedelta(days=rt.settings.job_history_days + 1))
        )
    pruner = await do_enqueue_job(rt, "prune_finished_jobs")
    await Worker(rt).run(once=True)
    remaining = {j.id for j in await jobs_of(rt)}
    assert old not in remaining
    assert {recent, pruner} <= remaining
