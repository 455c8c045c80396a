"""The sealed mail outbox: a mail queued in a transaction leaves only if it commits, is retried
while the mail server is down, and once sent leaves no readable copy (row deleted, key
destroyed)."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from confide.access.workspaces import do_create_workspace
from confide.core import clock
from confide.core.config import Settings
from confide.core.mail import Mail
from confide.jobs.models import Job, JobStatus
from confide.privacy.outbox import SEND_MAIL, queue_mail
from confide.privacy.requests.models import OutboxMail
from confide.runtime import Runtime
from tests.mailbox import MailBox, mailbox_fixture, with_smtp  # noqa: F401 (fixture)
from tests.privacy.helpers import every_row_as_text
from tests.privacy.requests.helpers import run_jobs

pytestmark = pytest.mark.smtp
SECRET_LINE = "walnut-heron-0917 is the code"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


async def test_a_queued_mail_is_retried_until_the_server_answers_then_nothing_is_left(
    rt: Runtime, settings: Settings, mailbox: MailBox
) -> None:
    workspace = await do_create_workspace(rt, slug="acme", name="Acme")
    rt.settings = with_smtp(settings, mailbox).with_overrides(smtp_port=_closed_port())
    async with rt.db.transaction() as tx:
        await queue_mail(rt, tx, workspace.id, Mail("rita@example.test", "Code", SECRET_LINE))
    assert SECRET_LINE not in await every_row_as_text(rt)  # sealed at rest

    await run_jobs(rt)  # the server is down: the attempt fails, the job waits to retry
    async with rt.db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == SEND_MAIL))
        assert job is not None and (job.status, job.attempts) == (JobStatus.QUEUED, 1)
        assert await session.scalar(select(OutboxMail.id)) is not None
    assert mailbox.messages == []

    rt.settings = with_smtp(settings, mailbox)
    clock.advance(3600)
    await run_jobs(rt)
    assert mailbox.recipients == [["rita@example.test"]]
    assert SECRET_LINE in mailbox.body(0)
    async with rt.db.session() as session:
        assert await session.scalar(select(OutboxMail.id)) is None
        job = await session.scalar(select(Job).where(Job.kind == SEND_MAIL))
        assert job is not None and job.status is JobStatus.SUCCEEDED


async def test_a_rolled_back_transaction_sends_nothing(
    rt: Runtime, settings: Settings, mailbox: MailBox
) -> None:
    workspace = await do_create_workspace(rt, slug="acme", name="Acme")
    rt.settings = with_smtp(settings, mailbox)
    with pytest.raises(RuntimeError):
        async with rt.db.transaction() as tx:
            await queue_mail(rt, tx, workspace.id, Mail("rita@example.test", "Code", SECRET_LINE))
            raise RuntimeError("the decision to mail is rolled back")
    await run_jobs(rt)
    assert mailbox.messages == []
