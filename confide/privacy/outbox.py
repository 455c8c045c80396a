"""The mail outbox: mails that must leave even if the mail server is down right now.

Why: a data-subject request's link, receipt and the admins' digest must not be lost to a
restart or a mail server that refuses for a minute, and a job payload may hold ids only. So the
transaction that decides to send a mail also stores it here, recipient and text sealed
(AES-256-GCM) under a data key of the row's own, and queues a ``send_mail`` job naming the row.
The job opens the row, sends it through ``confide.core.mail`` outside any transaction, then
deletes the row and destroys its key, so a copy of the database taken afterwards holds nothing
readable of it. A refused send raises ``MailFailed`` and the job is retried with backoff
(``max_attempts``); a mail sent twice (the row deleted after a crash) is the price of never
losing one.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from confide.core.db import new_id
from confide.core.errors import KeyUnavailable
from confide.core.mail import Mail, send_mail
from confide.jobs.kinds import Batch, BatchResult, JobKind, register
from confide.jobs.queue import enqueue_in
from confide.privacy.key_cache import destroy_keys
from confide.privacy.requests.models import OutboxMail

if TYPE_CHECKING:
    from confide.runtime import Runtime

SEND_MAIL = "send_mail"


def _aad(mail_id: uuid.UUID) -> str:
    return f"mail_outbox:{mail_id}"


async def queue_mail(
    rt: Runtime, session: AsyncSession, workspace_id: uuid.UUID, mail: Mail
) -> uuid.UUID:
    """Inside the caller's transaction: seal ``mail`` and queue its ``send_mail`` job, so it
    leaves only if the transaction commits. Returns the outbox row's id."""
    mail_id = new_id()
    plaintext = json.dumps({"to": mail.to, "subject": mail.subject, "text": mail.text})
    sealed = await rt.keyring.encrypt(workspace_id, mail_id, plaintext, _aad(mail_id))
    session.add(OutboxMail(id=mail_id, workspace_id=workspace_id, sealed=sealed))
    await session.flush()
    await enqueue_in(session, SEND_MAIL, payload={"mail_id": str(mail_id)})
    return mail_id


async def send_queued_mail(rt: Runtime, mail_id: uuid.UUID) -> bool:
    """Send one outbox mail, then delete it and destroy its key. False when it is gone
    already (sent before). Raises MailFailed for the job to retry."""
    async with rt.db.session() as session:
        row = await session.get(OutboxMail, mail_id)
        if row is None:
            return False
        try:
            plaintext = await rt.keyring.decrypt(
                row.workspace_id, mail_id, row.sealed, _aad(mail_id)
            )
        except KeyUnavailable:
            plaintext = None
    if plaintext is not None:
        data = json.loads(plaintext)
        await send_mail(rt.settings, Mail(data["to"], data["subject"], data["text"]))
    async with rt.db.transaction() as tx:
        found = await tx.get(OutboxMail, mail_id)
        if found is not None:
            await tx.delete(found)
        tx.on_commit(destroy_keys, rt, [mail_id])
    return plaintext is not None


async def _run_send_mail(batch: Batch) -> BatchResult:
    sent = await send_queued_mail(batch.rt, uuid.UUID(str(batch.payload["mail_id"])))
    return BatchResult(items=int(sent), cursor=None, done=True)


SEND_MAIL_KIND = register(
    JobKind(
        name=SEND_MAIL,
        description="Send a mail from the sealed outbox (request links, receipts, digests).",
        run_batch=_run_send_mail,
        batch_size=1,
        max_attempts=8,
        payload_keys=frozenset({"mail_id"}),
        in_transaction=False,
    )
)
